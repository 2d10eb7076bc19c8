{
  # The kernels addon. scripts/detect-blas.mjs picks the matrix-product path:
  # "openblas" (cblas.h + libopenblas found), "accelerate" (macOS) or "none"
  # (a portable built-in kernel). The build never fails for lack of a BLAS.
  "variables": {
    "blas%": "<!(node scripts/detect-blas.mjs)"
  },
  "targets": [
    {
      # Our GEMM, compiled apart WITHOUT -march=native: its micro-kernels carry their
      # own target attributes and are picked at run time from CPU features, so the GEMM
      # runs on any x86-64 whatever machine built it.
      "target_name": "autodidact_gemm",
      "type": "static_library",
      "sources": ["src/native/gemm.cc"],
      "cflags_cc": ["-O3", "-fPIC", "-std=c++17", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off"],
      "xcode_settings": {
        "OTHER_CPLUSPLUSFLAGS": ["-O3", "-std=c++17"]
      }
    },
    {
      # The kernels. -march=native remains here because the other kernels rely on the
      # compiler vectorizing them for the build machine; giving them run-time dispatch
      # too is what would make the whole addon portable across x86-64 machines. It does
      # not change results: -ffp-contract=off leaves no fusing to the compiler (the code
      # fuses explicitly), and without -ffast-math vectorizing keeps every rounding.
      "target_name": "autodidact_kernels",
      "dependencies": ["autodidact_gemm"],
      "sources": ["src/native/kernels.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags_cc": ["-O3", "-march=native", "-std=c++17", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off"],
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
