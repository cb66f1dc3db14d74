# Source at the start of a command on the GPU machine (no network there): installs the
# carried wheels and puts the repo on the path. Fetch the wheels beforehand, with network:
#   python3 -m pip download -d .whl --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_25_x86_64 --platform manylinux_2_17_x86_64 \
#     ncu-report==2025.3.1 jsonschema==4.26.0 jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py \
#     dask==2026.8.0 distributed==2026.8.0 partd locket zict tblib tornado
# (ncu-report comes from the registry's own index: if pip finds no wheel for these platforms, download it with
# plain `pip download --no-deps ncu-report==2025.3.1` on an x86-64 Linux machine.) The image already holds the
# rest of Dask's needs (cloudpickle, toolz, msgpack, psutil, sortedcontainers, fsspec, pyyaml).
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  || { echo "wheel install failed" >&2; return 1; }
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
