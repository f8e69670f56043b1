//go:build !purego

package lstm

import "golang.org/x/sys/cpu"

// haveAVX2 says whether the processor runs the AVX2 and FMA kernels of
// kernels_amd64.s.
var haveAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// haveAVX512 says whether the processor (and its operating system) runs
// axpyRows128.
var haveAVX512 = haveAVX2 && cpu.X86.HasAVX512F

//go:noescape
func axpyRows64(z *float32, w *float32, ldw int, idx *int32, val *float32, n int)

//go:noescape
func tanhAffine8(z *float32, bias *float32, n int, c *actConsts, k, mul, add float32)

//go:noescape
func axpyRows128(z *float32, w *float32, ldw int, idx *int32, val *float32, n int)
