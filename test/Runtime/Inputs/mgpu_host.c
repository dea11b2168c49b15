/*===- mgpu_host.c - TEST HELPER: calls an MLIR-lowered host function -----===//
 *
 * main() for mgpu-abi.mlir: builds the memref descriptors of @run's
 * C interface (llvm.emit_c_interface), calls it, and prints the host buffer
 * it copied to the device and back: 4 60 32 62 after the kernels ran on a
 * GPU, 1 15 16 31 on a stand-in driver that runs none. Every GPU call in
 * @run goes through the mgpu* functions of libskipattn_runtime.
 *
 *===----------------------------------------------------------------------===*/

#include <stdint.h>
#include <stdio.h>

typedef struct {
  float *allocated, *aligned;
  int64_t offset, sizes[1], strides[1];
} MemRef1;

typedef struct {
  uint16_t *allocated, *aligned;
  int64_t offset, sizes[2], strides[2];
} MemRef2;

void _mlir_ciface_run(MemRef1 *host, MemRef2 *tile);

/* Page-aligned for cuMemHostRegister; a TMA tensor needs 16 bytes. */
static float host[32] __attribute__((aligned(4096)));
static uint16_t tile[64 * 64] __attribute__((aligned(128)));

int main(void) {
  MemRef1 h = {host, host, 0, {32}, {1}};
  MemRef2 t = {tile, tile, 0, {64, 64}, {64, 1}};
  int i;
  for (i = 0; i < 32; ++i)
    host[i] = (float)i;
  _mlir_ciface_run(&h, &t);
  printf("host: %g %g %g %g\n", (double)host[1], (double)host[15],
         (double)host[16], (double)host[31]);
  return 0;
}
