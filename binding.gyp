{
  # The kernels addon. scripts/detect-blas.mjs picks the matrix-product path:
  # "openblas" (cblas.h + libopenblas found), "accelerate" (macOS) or "none"
  # (a portable built-in kernel). The build never fails for lack of a BLAS.
  "variables": {
    "blas%": "<!(node scripts/detect-blas.mjs)"
  },
  "targets": [
    {
      "target_name": "autodidact_kernels",
      "sources": ["src/native/kernels.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags_cc": ["-O3", "-march=native", "-std=c++17", "-fno-math-errno", "-fno-trapping-math"],
      "cflags_cc!": ["-fno-exceptions"],
      "xcode_settings": {
        "OTHER_CPLUSPLUSFLAGS": ["-O3", "-std=c++17"],
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES"
      },
      "conditions": [
        ["blas=='openblas'", {
          "defines": ["AUTODIDACT_OPENBLAS"],
          "libraries": ["-lopenblas"]
        }],
        ["blas=='accelerate'", {
          "defines": ["AUTODIDACT_ACCELERATE", "ACCELERATE_NEW_LAPACK"],
          "libraries": ["-framework Accelerate"]
        }]
      ]
    }
  ]
}
