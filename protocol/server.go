package protocol

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// Listener is one named listener, Kafka's `NAME://host:port`.
type Listener struct {
	Name    string
	Address string // host:port to bind; port 0 picks a free port
}

// Config holds the connection-level settings, with Kafka's names.
type Config struct {
	Listeners []Listener
	// MaxRequestBytes is socket.request.max.bytes: larger frames close the
	// connection before anything is allocated.
	MaxRequestBytes int32
	// MaxOtherRequestBytes bounds the frames of every API but Produce,
	// whose decoded form can be 100 times their size (see cost.go).
	// <= 0: 8 MiB. socket.request.max.bytes applies if lower.
	MaxOtherRequestBytes int32
	// QueuedMaxRequestBytes is queued.max.request.bytes: the memory held
	// by all requests in flight, counted as their frames plus what they
	// decode to (cost.go). Readers pause when it is spent. <= 0: no limit.
	QueuedMaxRequestBytes int64
	// MaxConnections is max.connections: accepting waits while the broker
	// holds this many. <= 0: no limit.
	MaxConnections int
	// MaxConnectionsPerIP is max.connections.per.ip: further connections
	// from one address are closed at once. <= 0: no limit.
	MaxConnectionsPerIP int
	// IdleTimeout is connections.max.idle.ms; 0 disables it.
	IdleTimeout time.Duration
	Logger      *slog.Logger
	// Observer, if set, is told of connections and answered requests.
	Observer Observer
}

// Observer watches the server for metrics. Its methods are called on the
// connection goroutines and must be cheap and must not block.
type Observer interface {
	ConnOpened(listener string)
	ConnClosed(listener string)
	// RequestDone is called once a request's response is written (or
	// abandoned with its connection), with the time since it was read.
	RequestDone(key int16, elapsed time.Duration)
}

type noObserver struct{}

func (noObserver) ConnOpened(string)                {}
func (noObserver) ConnClosed(string)                {}
func (noObserver) RequestDone(int16, time.Duration) {}

// Server accepts connections on its listeners and serves them with a Handler.
type Server struct {
	cfg     Config
	handler Handler
	log     *slog.Logger
	mem     *byteBudget
	conns   chan struct{} // max.connections tokens; nil = unlimited

	listeners []net.Listener
	names     []string

	mu     sync.Mutex
	open   map[*conn]struct{}
	perIP  map[string]int
	nextID uint64

	stop    chan struct{}
	closing atomic.Bool
	panics  atomic.Int64
	wg      sync.WaitGroup
	limiter logLimiter
}

// NewServer returns a server that will serve h. Call Listen, then Serve.
func NewServer(cfg Config, h Handler) *Server {
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = 100 << 20
	}
	if cfg.MaxOtherRequestBytes <= 0 {
		cfg.MaxOtherRequestBytes = defaultMaxOtherRequestBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Observer == nil {
		cfg.Observer = noObserver{}
	}
	s := &Server{
		cfg:     cfg,
		handler: h,
		log:     cfg.Logger,
		mem:     newByteBudget(cfg.QueuedMaxRequestBytes),
		open:    make(map[*conn]struct{}),
		perIP:   make(map[string]int),
		stop:    make(chan struct{}),
	}
	if cfg.MaxConnections > 0 {
		s.conns = make(chan struct{}, cfg.MaxConnections)
	}
	return s
}

// Listen binds every listener. On failure nothing stays bound and the error
// names the listener.
func (s *Server) Listen() error {
	for _, l := range s.cfg.Listeners {
		ln, err := net.Listen("tcp", l.Address)
		if err != nil {
			for _, o := range s.listeners {
				o.Close()
			}
			s.listeners, s.names = nil, nil
			return fmt.Errorf("listener %s on %s: %w", l.Name, l.Address, err)
		}
		s.listeners = append(s.listeners, ln)
		s.names = append(s.names, l.Name)
	}
	return nil
}

// Addr returns the bound address of the named listener, nil if unknown.
func (s *Server) Addr(name string) net.Addr {
	for i, n := range s.names {
		if n == name {
			return s.listeners[i].Addr()
		}
	}
	return nil
}

// Serve starts accepting on every bound listener and returns.
func (s *Server) Serve() {
	for i, ln := range s.listeners {
		name := s.names[i]
		s.goroutine(func() { s.acceptLoop(ln, name) })
	}
}

func (s *Server) goroutine(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

func (s *Server) acceptLoop(ln net.Listener, name string) {
	var backoff time.Duration
	for {
		if s.conns != nil {
			select {
			case s.conns <- struct{}{}:
			case <-s.stop:
				return
			}
		}
		nc, err := ln.Accept()
		if err != nil {
			if s.conns != nil {
				<-s.conns
			}
			if s.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Temporary failures (EMFILE and the like): back off as
			// net/http does rather than spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.logLimited("accept", "accept failed", "listener", name, "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-s.stop:
				return
			}
			continue
		}
		backoff = 0
		c, ok := s.track(nc, name)
		if !ok {
			nc.Close()
			if s.conns != nil {
				<-s.conns
			}
			continue
		}
		s.goroutine(func() {
			defer s.untrack(c)
			c.serve()
		})
	}
}

func (s *Server) track(nc net.Conn, listener string) (*conn, bool) {
	ip := hostOf(nc.RemoteAddr())
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return nil, false
	}
	if s.cfg.MaxConnectionsPerIP > 0 && s.perIP[ip] >= s.cfg.MaxConnectionsPerIP {
		s.logLimited("perip", "too many connections from one address", "ip", ip, "limit", s.cfg.MaxConnectionsPerIP)
		return nil, false
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	s.nextID++
	c := s.newConn(nc, listener, s.nextID)
	s.open[c] = struct{}{}
	s.perIP[ip]++
	s.cfg.Observer.ConnOpened(listener)
	return c, true
}

func (s *Server) untrack(c *conn) {
	ip := hostOf(c.info.RemoteAddr)
	s.mu.Lock()
	delete(s.open, c)
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
	s.mu.Unlock()
	s.cfg.Observer.ConnClosed(c.info.Listener)
	if s.conns != nil {
		<-s.conns
	}
}

// HandlerPanics counts handler panics recovered so far; each is a bug.
func (s *Server) HandlerPanics() int64 { return s.panics.Load() }

// InFlightBytes returns the bytes of requests read and not yet answered.
func (s *Server) InFlightBytes() int64 { return s.mem.held() }

// NumConnections returns the number of open client connections.
func (s *Server) NumConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.open)
}

func hostOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	h, _, _ := net.SplitHostPort(a.String())
	return h
}

func (s *Server) serveRequest(req *Request) {
	defer func() {
		if r := recover(); r != nil {
			// A handler bug must not take the broker down; the client
			// loses this connection and reconnects.
			s.panics.Add(1)
			s.log.Error("handler panic", "api", req.Key, "version", req.Version, "panic", r, "stack", string(debug.Stack()))
			if req.state.Load() == statePending {
				req.CloseConnection()
			}
		}
	}()
	s.handler.Serve(req)
}

// Shutdown stops accepting, lets every connection finish the requests it
// has read (no new ones are read), and closes them. When ctx expires first,
// the remaining connections are closed at once.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.closing.Swap(true) {
		return nil
	}
	close(s.stop)
	s.mem.close()
	for _, ln := range s.listeners {
		ln.Close()
	}
	// Wake readers blocked waiting for the next request.
	s.mu.Lock()
	for c := range s.open {
		c.nc.SetReadDeadline(time.Now())
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.open {
			c.nc.Close()
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

// logLimited logs at most a few lines per second for each kind, so a
// misbehaving client cannot flood the log.
func (s *Server) logLimited(kind, msg string, args ...any) {
	if s.limiter.allow(kind) {
		s.log.Warn(msg, args...)
	}
}

type logLimiter struct {
	mu     sync.Mutex
	window time.Time
	counts map[string]int
}

func (l *logLimiter) allow(kind string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if now.Sub(l.window) > time.Second {
		l.window = now
		clear(l.counts)
	}
	if l.counts == nil {
		l.counts = make(map[string]int)
	}
	l.counts[kind]++
	return l.counts[kind] <= 5
}
