"""The example job runplz's README runs: a pretend training loop that needs nothing but
Python 3's standard library (no network, no GPU). It prints progress to stdout and writes
$RUNPLZ_OUT/result.json, the file that comes back to ./out/ on this machine."""

import argparse
import json
import os
import platform
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=3, help="how many steps to run")
    args = parser.parse_args()
    if args.steps < 0:
        parser.error(f"--steps must be 0 or more, got {args.steps}")

    greeting = os.environ.get("GREETING", "")
    out_dir = os.environ.get("RUNPLZ_OUT") or "out"
    os.makedirs(out_dir, exist_ok=True)

    print(f"{greeting or 'hi'} from python {platform.python_version()}", flush=True)
    loss = 1.0
    for step in range(1, args.steps + 1):
        loss /= 2
        print(f"step {step}/{args.steps} loss={loss:.4f}", flush=True)
        time.sleep(0.1)

    result = {
        "steps": args.steps,
        "greeting": greeting,
        "python": platform.python_version(),
        "final_loss": loss,
    }
    path = os.path.join(out_dir, "result.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print(f"wrote {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
