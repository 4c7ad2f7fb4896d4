"""The throughput benchmark: every loader side by side on the same files and cores.

    python benchmarks/throughput.py                      # synthetic ImageNet-like JPEGs, train + eval
    python benchmarks/throughput.py --data DIR --out bench-out
    python benchmarks/throughput.py --sweep threads      # or: batch, size
    python benchmarks/throughput.py --soak 20            # memory over 20 epochs

Writes OUT/throughput.json, OUT/throughput.png and prints a Markdown table. Same as `dali-pipes bench`.
"""

import sys

from dali_pipes.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
