"""A diagnosis, not a kernel: writes a copy of kernels/staged_taps.py whose stores put every row
piece of y on whole 32-byte sectors, by starting row r's pieces (r*L_out) mod 8 positions early
(fp32, even L_out). The results are wrong by design; the time says what y's partial sectors cost
the whole conv, before anyone builds the products that would make such shifted tiles right.

    python3 bench/diag_sectors.py .ab/staged_taps_sectors.py
    python3 bench/sweep.py -p kb67 -v staged_taps:wide -v staged_taps@.ab/staged_taps_sectors.py:wide
"""
import sys
from pathlib import Path

KERNEL = Path(__file__).resolve().parents[1] / "kernels" / "staged_taps.py"

AS_IS = """    y_ptrs = y_ptr + (t // TILES * Cout).to(gl.int64) * L_out + (offs_n * L_out)[None, :] + offs_l[:, None]
    gl.store(y_ptrs, out.to(y_ptr.dtype.element_ty),
             mask=((offs_m < T) & (offs_l < L_out))[:, None] & (offs_n < Cout)[None, :])"""
# the shift is written as 2 * (...) so that the compiler still sees 8-byte alignment (L_out even)
ON_SECTORS = """    shift = 2 * ((((t // TILES * Cout + offs_n) % 4) * ((L_out // 2) % 4)) % 4)
    pos = offs_l[:, None] - shift[None, :]
    y_ptrs = y_ptr + (t // TILES * Cout).to(gl.int64) * L_out + (offs_n * L_out)[None, :] + pos
    gl.store(y_ptrs, out.to(y_ptr.dtype.element_ty),
             mask=(offs_m < T)[:, None] & (pos >= 0) & (pos < L_out) & (offs_n < Cout)[None, :])"""


def main():
    source = KERNEL.read_text()
    if source.count(AS_IS) != 1:
        raise SystemExit(f"error: {KERNEL}'s _write_tile no longer reads as this diagnosis expects")
    Path(sys.argv[1]).write_text(source.replace(AS_IS, ON_SECTORS))


if __name__ == "__main__":
    main()
