package main

import (
	"io"
	"net"
	"time"
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
