// An LLM client in Go for the capture tests, standard library only: POSTs each job of a
// JSON file ([{"path": ..., "body": {...}}]) to a base URL, trusting one CA, over HTTP/1.1
// (keep-alive, one connection) or HTTP/2 (-h2: one connection, -parallel streams at once).
// Streamed responses are read line by line as they arrive, as an SSE consumer does.
// Prints one JSON line per job: path, status, protocol, bytes read.
package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
)

type job struct {
	Path string          `json:"path"`
	Body json.RawMessage `json:"body"`
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "llmclient:", err)
		os.Exit(2)
	}
}

func main() {
	h2 := flag.Bool("h2", false, "HTTP/2 (else HTTP/1.1 only)")
	wait := flag.Bool("wait", false, "print ready and wait for a line on stdin before the first request")
	parallel := flag.Int("parallel", 1, "requests in flight at once")
	flag.Parse()
	if flag.NArg() != 3 {
		fmt.Fprintln(os.Stderr, "usage: llmclient [-h2] [-wait] [-parallel N] BASE_URL CA_FILE JOBS_FILE")
		os.Exit(64)
	}
	base, caFile, jobsFile := flag.Arg(0), flag.Arg(1), flag.Arg(2)
	pem, err := os.ReadFile(caFile)
	check(err)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		check(fmt.Errorf("no certificate in %s", caFile))
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: *h2}
	if !*h2 {
		// A non-nil empty map turns HTTP/2 off.
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	client := &http.Client{Transport: tr}
	var jobs []job
	raw, err := os.ReadFile(jobsFile)
	check(err)
	check(json.Unmarshal(raw, &jobs))
	if *wait {
		fmt.Println("ready")
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	}
	results := make([]string, len(jobs))
	sem := make(chan struct{}, *parallel)
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int, j job) {
			defer wg.Done()
			defer func() { <-sem }()
			results[i] = one(client, base, j)
		}(i, j)
	}
	wg.Wait()
	for _, r := range results {
		fmt.Println(r)
	}
}

func one(c *http.Client, base string, j job) string {
	req, err := http.NewRequest("POST", base+j.Path, bytes.NewReader(j.Body))
	check(err)
	req.Header.Set("content-type", "application/json")
	req.Header.Set("x-api-key", "sk-test-0000")
	req.Header.Set("anthropic-version", "2023-06-01")
	resp, err := c.Do(req)
	check(err)
	defer resp.Body.Close()
	n := 0
	if strings.HasPrefix(resp.Header.Get("content-type"), "text/event-stream") {
		r := bufio.NewReader(resp.Body)
		for {
			line, err := r.ReadString('\n')
			n += len(line)
			if err == io.EOF {
				break
			}
			check(err)
		}
	} else {
		b, err := io.ReadAll(resp.Body)
		check(err)
		n = len(b)
	}
	out, _ := json.Marshal(map[string]any{"path": j.Path, "status": resp.StatusCode, "proto": resp.Proto, "bytes": n})
	return string(out)
}
