import re
import threading
import uuid

from edge.ids import UUID7Generator, uuid7, uuid7_time_ms

T0_NS = 1_764_275_000_123_456_789  # 2025-11-27T20:23:20.123Z


def test_format_version_variant_and_time():
    value = UUID7Generator(time_ns=lambda: T0_NS)()
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", value)
    u = uuid.UUID(value)
    assert u.version == 7 and u.variant == uuid.RFC_4122
    assert uuid7_time_ms(value) == T0_NS // 1_000_000


def test_monotonic_within_one_millisecond():
    gen = UUID7Generator(time_ns=lambda: T0_NS)
    ids = [gen() for _ in range(5000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert {uuid7_time_ms(i) for i in ids} == {T0_NS // 1_000_000}


def test_clock_stepping_back_keeps_order():
    times = iter([T0_NS, T0_NS + 5_000_000, T0_NS - 60_000_000_000, T0_NS + 7_000_000])
    gen = UUID7Generator(time_ns=lambda: next(times))
    ids = [gen() for _ in range(4)]
    assert ids == sorted(ids)
    assert uuid7_time_ms(ids[2]) == (T0_NS + 5_000_000) // 1_000_000  # held, not stepped back


def test_counter_overflow_advances_the_timestamp():
    rand = iter([(1 << 74) - 2, 5, 9])
    gen = UUID7Generator(time_ns=lambda: T0_NS, randbits=lambda bits: next(rand))
    first, second = gen(), gen()
    assert second > first
    assert uuid7_time_ms(second) == uuid7_time_ms(first) + 1


def test_ids_sort_by_creation_time_across_milliseconds():
    now = [T0_NS]

    def clock():
        now[0] += 400_000  # 0.4 ms per id
        return now[0]

    gen = UUID7Generator(time_ns=clock)
    ids = [gen() for _ in range(100)]
    assert ids == sorted(ids)
    assert uuid7_time_ms(ids[-1]) - uuid7_time_ms(ids[0]) == 40


def test_threads_get_unique_ids_and_default_is_real_time():
    out: list[str] = []
    lock = threading.Lock()

    def work():
        got = [uuid7() for _ in range(500)]
        with lock:
            out.extend(got)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(out)) == 2000
    import time

    assert abs(uuid7_time_ms(uuid7()) - time.time_ns() // 1_000_000) < 5_000
