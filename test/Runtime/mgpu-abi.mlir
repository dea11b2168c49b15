// A host program lowered by MLIR 22's own pipeline (gpu-to-llvm, and the
// gpu.binary embedding of mlir-translate) links against libskipattn_runtime
// instead of libmlir_cuda_runtime: every mgpu* function it calls is defined
// there. It uses each GPU op whose lowering calls one: launches with and
// without clusters, async allocation on two streams joined by events,
// memset of 16 and 32 bits, copies both ways, host registration, managed
// memory, a default device, a TMA descriptor, and a wait on an event token.
// Run on the stand-in driver (Inputs/fake_libcuda.c, a TEST FIXTURE), the
// trace shows the calls arriving in order with their arguments. The object
// this writes also runs on a GPU, where there is no MLIR:
// gpu_runtime_check.py --mgpu-object %t/program.o.

// RUN: rm -rf %t && mkdir -p %t/fake
// RUN: mlir-opt %s --gpu-lower-to-nvvm-pipeline="cubin-chip=sm_90a cubin-features=+ptx80 cubin-format=isa" | mlir-translate --mlir-to-llvmir | llc -filetype=obj -relocation-model=pic -o %t/program.o

// The mgpu* functions the object needs, all defined by the runtime.
// RUN: nm -u %t/program.o | grep -o 'mgpu[A-Za-z0-9]*' | sort -u > %t/needed
// RUN: nm -D --defined-only %skipattn_libdir/libskipattn_runtime.so | grep -o 'mgpu[A-Za-z0-9]*' | sort -u > %t/defined
// RUN: comm -23 %t/needed %t/defined | count 0
// RUN: FileCheck %s --check-prefix=NEEDED --match-full-lines < %t/needed
// NEEDED:      mgpuEventCreate
// NEEDED-NEXT: mgpuEventDestroy
// NEEDED-NEXT: mgpuEventRecord
// NEEDED-NEXT: mgpuEventSynchronize
// NEEDED-NEXT: mgpuLaunchClusterKernel
// NEEDED-NEXT: mgpuLaunchKernel
// NEEDED-NEXT: mgpuMemAlloc
// NEEDED-NEXT: mgpuMemFree
// NEEDED-NEXT: mgpuMemHostRegisterMemRef
// NEEDED-NEXT: mgpuMemHostUnregisterMemRef
// NEEDED-NEXT: mgpuMemcpy
// NEEDED-NEXT: mgpuMemset16
// NEEDED-NEXT: mgpuMemset32
// NEEDED-NEXT: mgpuModuleGetFunction
// NEEDED-NEXT: mgpuModuleLoadJIT
// NEEDED-NEXT: mgpuModuleUnload
// NEEDED-NEXT: mgpuSetDefaultDevice
// NEEDED-NEXT: mgpuStreamCreate
// NEEDED-NEXT: mgpuStreamDestroy
// NEEDED-NEXT: mgpuStreamSynchronize
// NEEDED-NEXT: mgpuStreamWaitEvent
// NEEDED-NEXT: mgpuTensorMapEncodeTiledMemref
// NEEDED-NOT: {{.}}

// It links with nothing left undefined, libcuda not among its libraries.
// RUN: cc %S/Inputs/mgpu_host.c %t/program.o -o %t/program -L%skipattn_libdir -lskipattn_runtime -Wl,-rpath,%skipattn_libdir -Wl,--no-undefined -Wl,--no-allow-shlib-undefined
// RUN: %python -c "import subprocess, sys; out = subprocess.run(['readelf', '-d', sys.argv[1]], capture_output=True, text=True, check=True).stdout; print([l.split('[')[1].rstrip(']') for l in out.splitlines() if '(NEEDED)' in l])" %t/program | FileCheck %s --check-prefix=LIBS
// LIBS: ['libskipattn_runtime.so', 'libc.so.6']

// RUN: cc -std=c11 -Wall -Wextra -Werror -shared -fPIC -I%cuda_include %S/Inputs/fake_libcuda.c -o %t/fake/libcuda.so.1
// RUN: env LD_LIBRARY_PATH=%t/fake %t/program > %t/out 2> %t/trace
// RUN: FileCheck %s --check-prefix=OUT < %t/out
// The fake runs no kernel: the copy comes back unchanged.
// OUT: host: 1 15 16 31
// RUN: FileCheck %s --check-prefix=TRACE < %t/trace
// The module constructor JIT-loads the embedded PTX at -O2 (opt level,
// error log buffer and its size).
// TRACE:      fake-cuda: load ptx (3 JIT options)
// TRACE-NEXT: fake-cuda: host-register 128 bytes
// Two non-blocking streams, joined through events into a third.
// TRACE-NEXT: fake-cuda: create stream#1 (flags 1)
// TRACE-NEXT: fake-cuda: create stream#2 (flags 1)
// TRACE-NEXT: fake-cuda: alloc dev#1 128 bytes
// TRACE-NEXT: fake-cuda: alloc dev#2 32 bytes
// TRACE-NEXT: fake-cuda: copy 128 bytes dev#1+0 <- not-device-memory
// TRACE-NEXT: fake-cuda: create event#1 (flags 2)
// TRACE-NEXT: fake-cuda: record event#1 on stream#1
// TRACE-NEXT: fake-cuda: memset16 16 x 0
// TRACE-NEXT: fake-cuda: create event#2 (flags 2)
// TRACE-NEXT: fake-cuda: record event#2 on stream#2
// TRACE-NEXT: fake-cuda: create stream#3 (flags 1)
// TRACE-NEXT: fake-cuda: stream#3 waits for event#1
// TRACE-NEXT: fake-cuda: stream#3 waits for event#2
// TRACE-NEXT: fake-cuda: destroy event#1
// TRACE-NEXT: fake-cuda: destroy event#2
// 64 KiB of dynamic shared memory needs the opt-in first; the memref
// argument arrives expanded (allocated, aligned, offset, size, stride).
// TRACE-NEXT: fake-cuda: scale: max dynamic shared memory 65536
// TRACE-NEXT: fake-cuda: launch scale grid=[1,1,1] block=[16,1,1] shared=65536 stream#3
// TRACE-NEXT: fake-cuda:   u64 scale_param_0 = dev#1+0
// TRACE-NEXT: fake-cuda:   u64 scale_param_1 = dev#1+0
// TRACE-NEXT: fake-cuda:   u64 scale_param_2 = null
// TRACE:      fake-cuda:   f32 scale_param_5 = 2
// TRACE-NEXT: fake-cuda: cluster=[2,1,1]
// TRACE-NEXT: fake-cuda: launch-ex scale grid=[2,1,1] block=[16,1,1] shared=0 stream#3
// TRACE:      fake-cuda: copy 128 bytes not-device-memory <- dev#1+0
// TRACE-NEXT: fake-cuda: free dev#1
// TRACE-NEXT: fake-cuda: free dev#2
// TRACE-NEXT: fake-cuda: synchronize stream#3
// TRACE-NEXT: fake-cuda: destroy stream#3
// gpu.alloc host_shared is managed memory; a 32-bit memset of 2.0f.
// TRACE-NEXT: fake-cuda: alloc-managed dev#3 128 bytes
// TRACE-NEXT: fake-cuda: create stream#4 (flags 1)
// TRACE-NEXT: fake-cuda: memset32 32 x 1073741824
// TRACE-NEXT: fake-cuda: free dev#3
// TRACE-NEXT: fake-cuda: synchronize stream#4
// TRACE-NEXT: fake-cuda: destroy stream#4
// The TMA descriptor: f16 (type 6), innermost dimension first, 128-byte
// swizzle (3), copied to a device buffer the kernel would read.
// TRACE-NEXT: fake-cuda: tensor map type 6 rank 2 dims [64,64] box [64,64] swizzle 3
// TRACE-NEXT: fake-cuda: alloc dev#4 128 bytes
// TRACE-NEXT: fake-cuda: host-unregister
// The driver shuts down at exit before MLIR's module destructor runs (as
// NVIDIA's does); mgpuModuleUnload then has nothing left to unload and
// returns quietly.
// TRACE-NEXT: fake-cuda: shut down at exit
// MLIR emits no call that frees a TMA descriptor (upstream's wrapper
// leaks it too); nothing else is left.
// TRACE-NEXT: fake-cuda: leaked dev#4 (128 bytes)
// TRACE-NOT:  {{.}}

!desc = !nvgpu.tensormap.descriptor<tensor = memref<64x64xf16, 3>, swizzle = swizzle_128b, l2promo = none, oob = zero, interleave = none>

module attributes {gpu.container_module} {
  gpu.module @kernels {
    // a[block * 16 + thread] *= s.
    gpu.func @scale(%a: memref<32xf32>, %s: f32) kernel {
      %t = gpu.thread_id x
      %b = gpu.block_id x
      %n = gpu.block_dim x
      %o = arith.muli %b, %n : index
      %i = arith.addi %o, %t : index
      %v = memref.load %a[%i] : memref<32xf32>
      %w = arith.mulf %v, %s : f32
      memref.store %w, %a[%i] : memref<32xf32>
      gpu.return
    }
  }

  // One block scales a[0:16], then a cluster of two a[0:32]: a[i] = 4i for
  // i < 16 and 2i after, on a GPU.
  func.func @run(%h: memref<32xf32>, %t: memref<64x64xf16>)
      attributes {llvm.emit_c_interface} {
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %c16 = arith.constant 16 : index
    %c64 = arith.constant 64 : index
    %device = arith.constant 0 : i32
    %smem = arith.constant 65536 : i32
    %two = arith.constant 2.0 : f32
    %zero = arith.constant 0 : i16
    gpu.set_default_device %device
    %u = memref.cast %h : memref<32xf32> to memref<*xf32>
    gpu.host_register %u : memref<*xf32>
    %t0 = gpu.wait async
    %t1 = gpu.wait async
    %d, %ta = gpu.alloc async [%t0] () : memref<32xf32>
    %e, %tb = gpu.alloc async [%t1] () : memref<16xi16>
    %tc = gpu.memcpy async [%ta] %d, %h : memref<32xf32>, memref<32xf32>
    %td = gpu.memset async [%tb] %e, %zero : memref<16xi16>, i16
    %tj = gpu.wait async [%tc, %td]
    %tl = gpu.launch_func async [%tj] @kernels::@scale
        blocks in (%c1, %c1, %c1) threads in (%c16, %c1, %c1)
        dynamic_shared_memory_size %smem args(%d : memref<32xf32>, %two : f32)
    %tm = gpu.launch_func async [%tl] @kernels::@scale
        clusters in (%c2, %c1, %c1) blocks in (%c2, %c1, %c1)
        threads in (%c16, %c1, %c1) args(%d : memref<32xf32>, %two : f32)
    %tn = gpu.memcpy async [%tm] %h, %d : memref<32xf32>, memref<32xf32>
    %to = gpu.dealloc async [%tn] %d : memref<32xf32>
    %tp = gpu.dealloc async [%to] %e : memref<16xi16>
    gpu.wait [%tp]
    %m = gpu.alloc host_shared () : memref<32xf32>
    %tq = gpu.wait async
    %tr = gpu.memset async [%tq] %m, %two : memref<32xf32>, f32
    %ts = gpu.dealloc async [%tr] %m : memref<32xf32>
    gpu.wait [%ts]
    %tile = memref.cast %t : memref<64x64xf16> to memref<*xf16>
    %map = nvgpu.tma.create.descriptor %tile box[%c64, %c64]
        : memref<*xf16> -> !desc
    gpu.host_unregister %u : memref<*xf32>
    return
  }

  // Not called by the host: a wait on an event token lowers to
  // mgpuEventSynchronize, which the link must find too.
  func.func @wait(%token: !gpu.async.token) {
    gpu.wait [%token]
    return
  }
}
