package main

import (
	"io"
	"net"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// loopbackMBps measures what one TCP connection over loopback carries in
// this process: the ceiling no broker on this machine can pass, since every
// record crosses the loopback at least once each way.
func loopbackMBps(d time.Duration) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	received := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			received <- 0
			return
		}
		n, _ := io.Copy(io.Discard, c)
		c.Close()
		received <- n
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	buf := make([]byte, 1<<20)
	start := time.Now()
	for time.Since(start) < d {
		if _, err := c.Write(buf); err != nil {
			c.Close()
			return 0, err
		}
	}
	c.Close()
	n := <-received
	return float64(n) / 1e6 / time.Since(start).Seconds(), nil
}

// receiveCPU sends size bytes to itself over one loopback TCP connection and
// returns the CPU-seconds the receiving thread spent, reading 1 MiB at a time
// and handing each to sink (nil: dropped): the part of a producer's bytes a
// broker pays for whatever it does with them. The sender's thread, which
// also runs the TCP receive processing of loopback, is not counted.
func receiveCPU(size int64, sink func(p []byte, off int64) error) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	sent := make(chan error, 1)
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			sent <- err
			return
		}
		defer c.Close()
		buf := make([]byte, 1<<20)
		for n := int64(0); n < size; n += int64(len(buf)) {
			if _, err := c.Write(buf); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	c, err := ln.Accept()
	if err != nil {
		return 0, err
	}
	defer c.Close()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	buf := make([]byte, 1<<20)
	start := threadCPU()
	for off := int64(0); off < size; off += int64(len(buf)) {
		if _, err := io.ReadFull(c, buf); err != nil {
			return 0, err
		}
		if sink != nil {
			if err := sink(buf, off); err != nil {
				return 0, err
			}
		}
	}
	spent := threadCPU() - start
	return spent, <-sent
}

// threadCPU is the calling thread's user and system CPU-seconds.
func threadCPU() float64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// sendCached sends total bytes of f (cycling through its first span bytes,
// which are in the page cache) to itself over one loopback TCP connection,
// as a broker answers a Fetch: a small header, then 1 MiB of the log,
// either given to writev from a memory map of f or passed to sendfile. The
// receiving end reads and drops them.
func sendCached(f *os.File, span, total int64, useSendfile bool) error {
	const chunk = 1 << 20
	m, err := unix.Mmap(int(f.Fd()), 0, int(span), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return err
	}
	defer unix.Munmap(m)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	received := make(chan error, 1)
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			received <- err
			return
		}
		defer c.Close()
		_, err = io.Copy(io.Discard, c)
		received <- err
	}()
	nc, err := ln.Accept()
	if err != nil {
		return err
	}
	c := nc.(*net.TCPConn)
	raw, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return err
	}
	hdr := make([]byte, 64)
	for sent := int64(0); sent < total && err == nil; sent += chunk {
		off := sent % (span / chunk * chunk)
		if !useSendfile {
			bufs := net.Buffers{hdr, m[off : off+chunk]}
			_, err = bufs.WriteTo(c)
			continue
		}
		if _, err = c.Write(hdr); err != nil {
			break
		}
		pos, left := off, chunk
		werr := raw.Write(func(fd uintptr) bool {
			for left > 0 {
				n, e := unix.Sendfile(int(fd), int(f.Fd()), &pos, left)
				if e == unix.EAGAIN {
					return false // wait until the socket is writable
				}
				if e != nil {
					err = e
					return true
				}
				left -= n
			}
			return true
		})
		if err == nil {
			err = werr
		}
	}
	c.Close()
	if rerr := <-received; err == nil {
		err = rerr
	}
	return err
}
