//go:build !amd64

package records

const haveFold = false

func crc32cFold(state uint32, p []byte, keys *[12]uint64) uint32 {
	panic("records: crc32cFold without AVX-512")
}
