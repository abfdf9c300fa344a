"""Edge plate reader: detect and read licence plates, publish geotagged reads over MQTT."""

__version__ = "0.1.0"
