//go:build !amd64 || purego

package lstm

// haveAVX2 is false off amd64 (and with the purego tag): the inference
// path runs the portable kernels.
const haveAVX2, haveAVX512 = false, false

func axpyRows64(z *float32, w *float32, ldw int, idx *int32, val *float32, n int) {
	panic("lstm: no AVX2 kernels")
}

func tanhAffine8(z *float32, bias *float32, n int, c *actConsts, k, mul, add float32) {
	panic("lstm: no AVX2 kernels")
}

func axpyRows128(z *float32, w *float32, ldw int, idx *int32, val *float32, n int) {
	panic("lstm: no AVX-512 kernels")
}
