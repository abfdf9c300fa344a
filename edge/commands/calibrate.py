"""`edge calibrate {intrinsics,roi,prewarp,scale,advice,checkerboard,apply}`: make the calibration file
that `edge run` applies (``[calibration] path = ...``), and geometry advice for aiming."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path

DEFAULT_OUT = "calibration/camera.json"

# Raspberry Pi camera sensors: native width (px) and pixel pitch (µm), from the sensor datasheets.
SENSORS = {
    "imx219": (3280, 1.12),  # Camera Module v2
    "imx477": (4056, 1.55),  # HQ Camera (C/CS mount)
    "imx708": (4608, 1.40),  # Camera Module 3
    "imx296": (1456, 3.45),  # Global Shutter Camera (C/CS mount)
}


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("calibrate", help="lens, ROI and prewarp calibration; geometry advice",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="calibrate_command", metavar="TOOL")

    s = sub.add_parser("intrinsics", help="lens intrinsics from checkerboard images or a video")
    s.add_argument("inputs", nargs="+", help="images, folders of images, or video files")
    s.add_argument("--board", default="9x6", help="inner corners COLSxROWS (default 9x6)")
    s.add_argument("--square-mm", type=float, default=25.0, help="square size in mm (default 25)")
    s.add_argument("--every", type=int, default=5, help="use every Nth video frame (default 5)")
    s.add_argument("--max-views", type=int, default=60, help="at most this many views in the fit (default 60)")
    s.add_argument("--k3", action="store_true", help="also fit k3 (wide-angle lenses)")
    s.add_argument("--alpha", type=float, default=0.0,
                   help="undistorted view: 0 = crop to valid pixels (default), 1 = keep every source pixel")
    _out_args(s)

    s = sub.add_parser("roi", help="region-of-interest polygon (outside is blacked out)")
    s.add_argument("--polygon", required=True, help='points "x,y x,y x,y ..." in undistorted pixels')
    _points_args(s)

    s = sub.add_parser("prewarp", help="perspective correction from four points outlining a real rectangle")
    s.add_argument("--points", required=True,
                   help='"x,y x,y x,y x,y": top-left, top-right, bottom-right, bottom-left, undistorted pixels')
    s.add_argument("--aspect", type=float, default=None,
                   help="real width/height of that rectangle (e.g. 520/110 for an EU plate); "
                        "default: the outline's own proportions")
    s.add_argument("--output-size", default=None, help="WxH of the warped frame (default: input size)")
    _points_args(s)

    s = sub.add_parser("advice", help="plate width in pixels and longest shutter time for a lens")
    s.add_argument("--sensor", choices=sorted(SENSORS), help="Raspberry Pi camera sensor preset")
    s.add_argument("--pixel-pitch-um", type=float, help="pixel pitch in µm (or --sensor)")
    s.add_argument("--sensor-width-px", type=int, help="native sensor width in px (or --sensor)")
    s.add_argument("--width-px", type=int, help="width of the frames the detector sees (default: native)")
    s.add_argument("--focal-mm", type=float, required=True, help="lens focal length in mm")
    s.add_argument("--distance-m", type=float, required=True, help="line-of-sight distance to the plate")
    s.add_argument("--plate-width-mm", type=float, default=520.0, help="plate width (EU 520, US 305)")
    s.add_argument("--speed-kmh", type=float, help="vehicle speed, for the shutter advice")
    s.add_argument("--angle-deg", type=float, default=90.0,
                   help="angle between travel direction and line of sight (0 = head-on, 90 = crossing)")
    s.add_argument("--blur-px", type=float, default=1.0, help="motion blur budget in pixels (default 1)")
    s.add_argument("--height-m", type=float, help="mounting height above the plate, for the tilt angle")
    s.add_argument("--json", action="store_true", help="print one JSON object")

    s = sub.add_parser("scale", help="focal length in pixels, for speed estimates (lens figures or a plate "
                                     "measured at a known distance)")
    s.add_argument("--focal-px", type=float, help="the focal length in pixels, if known")
    s.add_argument("--uncertainty", type=float, help="its relative uncertainty with --focal-px (default 0.03)")
    s.add_argument("--plate-px", type=float, help="width in px of a plate in the picture (with --distance-m)")
    s.add_argument("--distance-m", type=float, help="line-of-sight distance to that plate, measured")
    s.add_argument("--plate-width-mm", type=float, default=520.0, help="that plate's width (EU 520, US 305)")
    s.add_argument("--focal-mm", type=float, help="lens focal length in mm (with --sensor or pitch/width)")
    s.add_argument("--sensor", choices=sorted(SENSORS), help="Raspberry Pi camera sensor preset")
    s.add_argument("--pixel-pitch-um", type=float, help="pixel pitch in µm (or --sensor)")
    s.add_argument("--sensor-width-px", type=int, help="native sensor width in px (or --sensor)")
    s.add_argument("--image", help="a frame from the camera: sets the frame size")
    s.add_argument("--size", help="frame size WxH the service runs at (default: --image, else the file's image_size)")
    _out_args(s)

    s = sub.add_parser("checkerboard", help="write a printable checkerboard (PDF, SVG or PNG by suffix)")
    s.add_argument("--out", default="calibration/checkerboard_9x6_25mm.pdf")
    s.add_argument("--board", default="9x6", help="inner corners COLSxROWS")
    s.add_argument("--square-mm", type=float, default=25.0)
    s.add_argument("--page", default="A4", help="A4, A3 or letter (PDF/SVG)")
    s.add_argument("--dpi", type=int, default=300, help="PNG resolution")

    s = sub.add_parser("apply", help="write what the detector will see after calibration")
    s.add_argument("image", help="an image or video (first frame)")
    s.add_argument("--calibration", default=DEFAULT_OUT)
    s.add_argument("--out", required=True, help="output image path")


def _out_args(s) -> None:
    s.add_argument("--out", default=DEFAULT_OUT, help=f"calibration file to update (default {DEFAULT_OUT})")
    s.add_argument("--json", action="store_true", help="print one JSON object")


def _points_args(s) -> None:
    s.add_argument("--raw", action="store_true",
                   help="points are in raw camera pixels: convert them with the file's intrinsics")
    s.add_argument("--image", help="a frame from the camera: sets the image size and, with --preview, is drawn on")
    s.add_argument("--size", help="frame size WxH (default: --image, else the file's image_size)")
    s.add_argument("--preview", help="write --image with the result drawn/applied to this path")
    _out_args(s)


def run(args) -> int:
    from edge.calibration.file import CalibrationError

    tool = getattr(args, "calibrate_command", None)
    if not tool:
        print("edge calibrate: choose a tool: intrinsics, roi, prewarp, scale, advice, checkerboard, apply",
              file=sys.stderr)
        return 2
    try:
        return {"intrinsics": _intrinsics, "roi": _roi, "prewarp": _prewarp, "scale": _scale, "advice": _advice,
                "checkerboard": _checkerboard, "apply": _apply}[tool](args)
    except (CalibrationError, ValueError, OSError) as exc:
        print(f"edge calibrate {tool}: {exc}", file=sys.stderr)
        return 1


def _intrinsics(args) -> int:
    from edge.calibration.file import load_or_new, save_calibration
    from edge.calibration.intrinsics import Board, calibrate, collect_views, iter_images
    from edge.progress import progress

    board = Board.parse(args.board, args.square_mm)
    # as intrinsics_from_inputs, with a bar over the images read
    images = progress(iter_images(args.inputs, every=args.every), desc="views", unit="image")
    views, size, seen = collect_views(images, board)
    result = calibrate(views, board, size, k3=args.k3, max_views=args.max_views, alpha=args.alpha,
                       frames_seen=seen)
    cal = load_or_new(args.out)
    kept = cal.image_size == result.image_size
    if (cal.roi or cal.prewarp) and not kept:
        print(f"note: dropping roi/prewarp made for {cal.image_size}; frames are now {result.image_size}",
              file=sys.stderr)
    new = dataclasses.replace(cal, image_size=result.image_size, intrinsics=result.intrinsics,
                              roi=cal.roi if kept else None, prewarp=cal.prewarp if kept else None)
    save_calibration(new, args.out)
    summary = result.summary() | {"out": str(args.out)}
    if args.json:
        print(json.dumps(summary))
    else:
        s = summary
        print(f"views: {s['views_used']} used of {s['boards_found']} boards found in {s['frames_seen']} frames"
              + (f" (dropped as outliers: {len(s['views_dropped'])})" if s["views_dropped"] else ""))
        print(f"RMS reprojection error: {s['rms_px']:.3f} px" + ("  (good)" if s["rms_px"] < 0.5 else
              "  (high: check the board is flat, in focus and the square size is right)"))
        print(f"focal length: fx={s['fx']} fy={s['fy']} px   principal point: ({s['cx']}, {s['cy']})  "
              f"HFOV {s['hfov_deg']} deg")
        print(f"distortion (k1 k2 p1 p2 k3): {' '.join(str(v) for v in s['dist_coeffs'])}")
        print(f"wrote {args.out}")
    return 0


def _frame_size(args, cal) -> tuple[int, int]:
    if args.size:
        try:
            w, h = (int(v) for v in args.size.lower().split("x"))
        except ValueError:
            raise ValueError(f"--size {args.size!r}: expected WxH") from None
        return (w, h)
    if args.image:
        img = _read_first_frame(args.image)
        return (img.shape[1], img.shape[0])
    if cal.image_size:
        return cal.image_size
    raise ValueError("frame size unknown: give --image (a camera frame) or --size WxH")


def _read_first_frame(path: str):
    import cv2

    from edge.calibration.file import CalibrationError

    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        cap = cv2.VideoCapture(path)
        ok, img = cap.read() if cap.isOpened() else (False, None)
        cap.release()
        if not ok:
            raise CalibrationError(f"{path}: not a readable image or video")
    return img


def _to_undistorted(points, args, cal, size):
    import cv2
    import numpy as np

    from edge.calibration.file import CalibrationError

    if not args.raw:
        return points
    if not cal.intrinsics:
        raise CalibrationError("--raw needs intrinsics in the calibration file (run `edge calibrate intrinsics`)")
    sx, sy = size[0] / cal.image_size[0], size[1] / cal.image_size[1]
    S = np.diag([sx, sy, 1.0])
    pts = np.array(points, np.float64).reshape(-1, 1, 2)
    und = cv2.undistortPoints(pts, S @ cal.intrinsics.K, cal.intrinsics.D, P=S @ cal.intrinsics.K_new)
    return [tuple(map(float, p)) for p in und.reshape(-1, 2)]


def _roi(args) -> int:
    import dataclasses as dc

    from edge.calibration.file import Roi, load_or_new, save_calibration
    from edge.calibration.points import parse_points

    cal = load_or_new(args.out)
    size = _frame_size(args, cal)
    pts = _to_undistorted(parse_points(args.polygon), args, cal, size)
    if len(pts) < 3:
        raise ValueError("--polygon needs at least 3 points")
    for x, y in pts:
        if not (-1 <= x <= size[0] + 1 and -1 <= y <= size[1] + 1):
            raise ValueError(f"point {x:.0f},{y:.0f} is outside the {size[0]}x{size[1]} frame")
    cal = _resize_for(cal, size)
    new = dc.replace(cal, image_size=size, roi=Roi(tuple(pts)))
    save_calibration(new, args.out)
    _maybe_preview(args, new)
    area = _polygon_area(pts) / (size[0] * size[1])
    _report(args, {"roi_points": len(pts), "roi_fraction_of_frame": round(area, 3), "out": str(args.out)},
            f"ROI: {len(pts)} points, {area:.0%} of the frame; wrote {args.out}")
    return 0


def _prewarp(args) -> int:
    import dataclasses as dc

    from edge.calibration.file import load_or_new, save_calibration
    from edge.calibration.points import parse_points
    from edge.calibration.prewarp import prewarp_from_points

    cal = load_or_new(args.out)
    size = _frame_size(args, cal)
    pts = _to_undistorted(parse_points(args.points), args, cal, size)
    out_size = None
    if args.output_size:
        try:
            out_size = tuple(int(v) for v in args.output_size.lower().split("x"))
        except ValueError:
            raise ValueError(f"--output-size {args.output_size!r}: expected WxH") from None
    warp = prewarp_from_points(pts, size, aspect=args.aspect, output_size=out_size)
    cal = _resize_for(cal, size)
    new = dc.replace(cal, image_size=size, prewarp=warp)
    save_calibration(new, args.out)
    _maybe_preview(args, new)
    _report(args, {"homography": [list(r) for r in warp.homography], "output_size": list(warp.output_size),
                   "out": str(args.out)},
            f"prewarp: output {warp.output_size[0]}x{warp.output_size[1]}; wrote {args.out}")
    return 0


def _scale(args) -> int:
    import dataclasses as dc

    from edge.calibration.file import Scale, load_or_new, save_calibration
    from edge.calibration.scale import from_lens, from_plate

    cal = load_or_new(args.out)
    size = _frame_size(args, cal)
    cal = _resize_for(cal, size)
    given = [args.focal_px is not None, args.plate_px is not None or args.distance_m is not None,
             args.focal_mm is not None]
    if sum(given) != 1:
        raise ValueError("give one of: --focal-px, --plate-px with --distance-m, or --focal-mm with --sensor")
    if args.focal_px is not None:
        if not args.focal_px > 0:
            raise ValueError("--focal-px must be positive")
        scale = Scale(args.focal_px, 0.03 if args.uncertainty is None else args.uncertainty, "given as --focal-px")
    elif args.focal_mm is not None:
        width, pitch = SENSORS.get(args.sensor, (None, None))
        width, pitch = args.sensor_width_px or width, args.pixel_pitch_um or pitch
        if not width or not pitch:
            raise ValueError("--focal-mm needs --sensor, or both --pixel-pitch-um and --sensor-width-px")
        scale = from_lens(args.focal_mm, pitch, width, size[0])
    else:
        if args.plate_px is None or args.distance_m is None:
            raise ValueError("--plate-px and --distance-m go together")
        scale = from_plate(args.plate_px, args.distance_m, args.plate_width_mm)
    if cal.intrinsics is not None:
        print("note: the file has lens intrinsics; speed estimates use their focal length, not this one",
              file=sys.stderr)
    save_calibration(dc.replace(cal, image_size=size, scale=scale), args.out)
    hfov = 2 * math.degrees(math.atan(size[0] / (2 * scale.focal_px)))
    _report(args, {"focal_px": scale.focal_px, "uncertainty": scale.uncertainty, "hfov_deg": round(hfov, 1),
                   "image_size": list(size), "out": str(args.out)},
            f"scale: focal length {scale.focal_px:.0f} px at {size[0]} px wide (HFOV {hfov:.1f} deg, "
            f"+/-{scale.uncertainty:.0%}); wrote {args.out}")
    return 0


def _resize_for(cal, size):
    """Keep parts made at the same size; refuse to silently mix sizes."""
    from edge.calibration.file import CalibrationError

    if cal.image_size and cal.image_size != size:
        raise CalibrationError(f"the calibration file is for {cal.image_size[0]}x{cal.image_size[1]} frames "
                               f"but these points are for {size[0]}x{size[1]}; use a frame of the same size")
    return cal


def _maybe_preview(args, cal) -> None:
    if not args.preview:
        return
    if not args.image:
        raise ValueError("--preview needs --image")
    import cv2
    import numpy as np

    from edge.calibration.transform import CalibratedTransform

    img = _read_first_frame(args.image)
    out = CalibratedTransform(cal)(img)
    if cal.roi and not cal.prewarp:
        cv2.polylines(out, [np.round(np.array(cal.roi.polygon)).astype(np.int32)], True, (0, 255, 255), 2)
    if not cv2.imwrite(args.preview, out):
        raise OSError(f"{args.preview}: cannot write image")


def _polygon_area(pts) -> float:
    return abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(pts, pts[1:] + pts[:1]))) / 2.0


def _report(args, data: dict, line: str) -> None:
    print(json.dumps(data) if args.json else line)


def _advice(args) -> int:
    from edge.calibration.geometry import Camera, advise

    width, pitch = SENSORS.get(args.sensor, (None, None))
    width = args.sensor_width_px or width
    pitch = args.pixel_pitch_um or pitch
    if not width or not pitch:
        raise ValueError("give --sensor, or both --pixel-pitch-um and --sensor-width-px")
    cam = Camera(args.focal_mm, pitch, width, args.width_px)
    adv = advise(cam, args.distance_m, plate_width_m=args.plate_width_mm / 1000.0, speed_kmh=args.speed_kmh,
                 angle_deg=args.angle_deg, blur_budget_px=args.blur_px, height_m=args.height_m)
    if args.json:
        print(json.dumps(adv.as_dict()))
        return 0
    print(f"focal length {cam.focal_px:.0f} px at {cam.width_px} px wide; horizontal FOV {adv.hfov_deg:.1f} deg, "
          f"{adv.scene_width_m:.2f} m wide at {args.distance_m:g} m")
    print(f"plate ({args.plate_width_mm:g} mm) width: {adv.plate_width_px:.1f} px "
          f"({'OK' if adv.plate_ok else 'too small'})")
    if adv.tilt_deg is not None:
        print(f"tilt down to the plate: {adv.tilt_deg:.1f} deg")
    if adv.max_shutter_s is not None:
        print(f"at {args.speed_kmh:g} km/h, {args.angle_deg:g} deg to the line of sight: blur "
              f"{adv.blur_px_per_ms:.2f} px/ms; longest shutter for {args.blur_px:g} px blur: "
              f"{adv.max_shutter_s * 1e6:.0f} us ({adv.max_shutter_fraction})")
        print(f"set it in edge.toml: [source] exposure_us = {adv.exposure_us}  (picamera, usb; the gain stays "
              "automatic unless analogue_gain is set; more light or IR is needed the shorter it gets)")
    for note in adv.notes:
        print(f"advice: {note}")
    return 0


def _checkerboard(args) -> int:
    from edge.calibration import checkerboard
    from edge.calibration.intrinsics import Board

    board = Board.parse(args.board, args.square_mm)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if suffix == ".pdf":
        checkerboard.write_pdf(out, board.cols, board.rows, board.square_mm, args.page)
    elif suffix == ".svg":
        checkerboard.write_svg(out, board.cols, board.rows, board.square_mm, args.page)
    elif suffix == ".png":
        checkerboard.write_png(out, board.cols, board.rows, board.square_mm, args.dpi)
    else:
        raise ValueError(f"{out}: use a .pdf, .svg or .png name")
    print(f"wrote {out}: {board.cols}x{board.rows} inner corners, {board.square_mm:g} mm squares")
    return 0


def _apply(args) -> int:
    import cv2

    from edge.calibration.file import load_calibration
    from edge.calibration.transform import CalibratedTransform

    cal = load_calibration(args.calibration)
    img = _read_first_frame(args.image)
    out = CalibratedTransform(cal)(img)
    if not cv2.imwrite(args.out, out):
        raise OSError(f"{args.out}: cannot write image")
    print(f"wrote {args.out} ({out.shape[1]}x{out.shape[0]})")
    return 0
