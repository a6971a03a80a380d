// The Go side of the as-sslsniff bench: over one TLS connection, send an 8-byte length and
// that many bytes in one Write, read as many back, as fast as it can (or at most -rate MB/s
// both ways) for a number of seconds; print {"n", "secs", "bytes"} as the python client does.
package main

import (
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"
)

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: echoclient PORT SIZE SECS [RATE_MBPS]")
		os.Exit(64)
	}
	size, _ := strconv.Atoi(os.Args[2])
	secs, _ := strconv.ParseFloat(os.Args[3], 64)
	rate := 0.0
	if len(os.Args) > 4 {
		rate, _ = strconv.ParseFloat(os.Args[4], 64)
	}
	raw, err := net.Dial("tcp", "127.0.0.1:"+os.Args[1])
	if err != nil {
		panic(err)
	}
	raw.(*net.TCPConn).SetNoDelay(true)
	c := tls.Client(raw, &tls.Config{InsecureSkipVerify: true})
	msg := make([]byte, 8+size)
	binary.BigEndian.PutUint64(msg, uint64(size))
	for i := 8; i < len(msg); i++ {
		msg[i] = 'x'
	}
	buf := make([]byte, size)
	n := 0
	t0 := time.Now()
	end := t0.Add(time.Duration(secs * float64(time.Second)))
	for time.Now().Before(end) {
		if _, err := c.Write(msg); err != nil {
			panic(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			panic(err)
		}
		n++
		if rate > 0 {
			ahead := time.Duration(float64(n*(2*size+8))/(rate*1e6)*float64(time.Second)) - time.Since(t0)
			if ahead > 0 {
				time.Sleep(ahead)
			}
		}
	}
	dt := time.Since(t0).Seconds()
	out, _ := json.Marshal(map[string]any{"n": n, "secs": dt, "bytes": n * (2*size + 8)})
	fmt.Println(string(out))
}
