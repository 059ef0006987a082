# Builds hipfrac_process.node (execv for Node 20, native/process.cc; no LibTorch) and hipfrac_torch.node
# against a LibTorch: Debian's libtorch-dev by default (LIBTORCH=/usr), or another one named at build time,
# e.g. LIBTORCH=/opt/libtorch (official CUDA build) or a PyTorch wheel's torch/ folder. TORCH_CXX11_ABI=0 for
# LibTorch builds using the pre-C++11 ABI.
# NCCL (distributed.cc, CUDA builds only) needs nccl.h: NCCL_HOME=<dir with include/nccl.h>.
# C++17, or C++20 where the LibTorch headers require it (PyTorch 2.12 and later refuse older standards).
{
  "variables": {
    "libtorch%": "<!(node -p \"process.env.LIBTORCH || '/usr'\")",
    "libdir%": "<!(node -p \"const p=process.env.LIBTORCH||'/usr'; p==='/usr' ? '/usr/lib/x86_64-linux-gnu' : p+'/lib'\")",
    "cxx11abi%": "<!(node -p \"process.env.TORCH_CXX11_ABI || '1'\")",
    "cxxstd%": "<!(node -p \"const fs=require('fs'); const p=process.env.LIBTORCH||'/usr'; const f=p+'/include/ATen/ATen.h'; fs.existsSync(f)&&fs.readFileSync(f,'utf8').includes('202002L')?'c++20':'c++17'\")",
    "cuda%": "<!(node -p \"const fs=require('fs'); const p=process.env.LIBTORCH||'/usr'; const d=p==='/usr'?'/usr/lib/x86_64-linux-gnu':p+'/lib'; fs.existsSync(d+'/libtorch_cuda.so')?1:0\")"
  },
  "targets": [
    {
      "target_name": "hipfrac_process",
      "sources": ["process.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-fexceptions", "-O2"]
    },
    {
      "target_name": "hipfrac_torch",
      "sources": ["addon.cc", "cpu_allocator.cc", "distributed.cc"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<(libtorch)/include",
        "<(libtorch)/include/torch/csrc/api/include"
      ],
      "defines": ["NAPI_CPP_EXCEPTIONS", "_GLIBCXX_USE_CXX11_ABI=<(cxx11abi)"],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=<(cxxstd)", "-fexceptions", "-frtti", "-O2", "-Wno-unused-parameter", "-Wno-deprecated-declarations"],
      "libraries": ["-L<(libdir)", "-Wl,-rpath,<(libdir)", "-Wl,--no-as-needed", "-ltorch", "-ltorch_cpu", "-lc10"],
      "conditions": [
        ["cuda==1", {
          "libraries": ["-ltorch_cuda", "-lc10_cuda"],
          "defines": ["HIPFRAC_WITH_CUDA"],
          "include_dirs": ["<!(node -p \"process.env.NCCL_HOME ? process.env.NCCL_HOME + '/include' : (process.env.LIBTORCH || '/usr') + '/include'\")"]
        }]
      ]
    }
  ]
}
