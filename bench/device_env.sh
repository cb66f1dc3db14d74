# Source at the start of a command on the GPU machine (no network there): installs the
# carried wheels and puts the repo on the path. Fetch the wheels beforehand, with network:
#   python3 -m pip download -d .whl --no-deps --only-binary=:all: --python-version 3.12 \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_25_x86_64 --platform manylinux_2_17_x86_64 \
#     ncu-report==2025.3.1 jsonschema==4.26.0 jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  || { echo "wheel install failed" >&2; return 1; }
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
