# Source at the start of a command on the GPU machine (no network there): installs the
# carried wheels (.whl/, see README "GPU machine without network") and puts the repo on the path.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  || { echo "wheel install failed" >&2; return 1; }
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
