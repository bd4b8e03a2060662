package records

import "golang.org/x/sys/cpu"

// haveFold reports whether crc32cFold can run: AVX-512 (which x/sys/cpu
// reports only when the OS saves its registers) with VPCLMULQDQ.
var haveFold = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VPCLMULQDQ

// crc32cFold returns the CRC register state after p (a multiple of 256
// bytes, at least 256) from state.
//
//go:noescape
func crc32cFold(state uint32, p []byte, keys *[12]uint64) uint32
