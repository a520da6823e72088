# Sourced by the GPU scripts (gpu-check.sh, gpu-epoch.sh, gpu-kernels.sh): cubecl compiles its
# kernels at run time with NVRTC, so put a libnvrtc on the library path: the CUDA toolkit's,
# or the `nvidia-cuda-nvrtc` wheel's in ${PYTHON:-python3}'s packages.
for dir in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
  "$("${PYTHON:-python3}" -c 'import nvidia.cuda_nvrtc as m, os; print(os.path.join(os.path.dirname(m.__file__), "lib"))' 2>/dev/null)"; do
  [[ -n "$dir" && -d "$dir" ]] && ls "$dir"/libnvrtc.so* >/dev/null 2>&1 \
    && export LD_LIBRARY_PATH="$dir:${LD_LIBRARY_PATH:-}"
done
:  # the status of the loop above is not the script's
