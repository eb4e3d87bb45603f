//go:build linux

package fakeapi

import (
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// loop is the server's one goroutine: an epoll loop over the listening
// socket, the accepted connections, the webhook's connections and a pipe
// that wake writes to. It holds Server.mu while it handles a batch of
// events, so every handler runs with the lock held.
type loop struct {
	s       *Server
	epfd    int
	lfd     int
	wakeR   int
	wakeW   int
	woken   atomic.Bool // a byte is in the pipe (or about to be)
	raw     bool        // epoll_pwait as a raw system call (GOMAXPROCS > 1)
	byFD    []handler   // the owner of each descriptor
	events  []syscall.EpollEvent
	iov     []syscall.Iovec
	scratch []byte
	later   []*conn       // connections to serve at the tick (a poll ended by another's)
	done    chan struct{} // closed when run has returned
}

// handler owns a descriptor registered with the loop.
type handler interface {
	onEvent(events uint32)
}

const (
	evIn  = syscall.EPOLLIN | syscall.EPOLLRDHUP
	evOut = syscall.EPOLLOUT
)

// startLoop listens on 127.0.0.1 and starts the loop; it returns the
// listening address.
func startLoop(s *Server) (l *loop, addr string, err error) {
	l = &loop{s: s, epfd: -1, lfd: -1, wakeR: -1, wakeW: -1, raw: runtime.GOMAXPROCS(0) > 1,
		events: make([]syscall.EpollEvent, 128), scratch: make([]byte, 4096), done: make(chan struct{})}
	defer func() {
		if err != nil {
			l.closeFDs()
		}
	}()
	if l.lfd, err = syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0); err != nil {
		return nil, "", fmt.Errorf("socket: %w", err)
	}
	if err = syscall.Bind(l.lfd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return nil, "", fmt.Errorf("bind: %w", err)
	}
	if err = syscall.Listen(l.lfd, 1024); err != nil {
		return nil, "", fmt.Errorf("listen: %w", err)
	}
	sa, err := syscall.Getsockname(l.lfd)
	if err != nil {
		return nil, "", fmt.Errorf("getsockname: %w", err)
	}
	addr = "127.0.0.1:" + strconv.Itoa(sa.(*syscall.SockaddrInet4).Port)
	var p [2]int
	if err = syscall.Pipe2(p[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		return nil, "", fmt.Errorf("pipe: %w", err)
	}
	l.wakeR, l.wakeW = p[0], p[1]
	if l.epfd, err = syscall.EpollCreate1(syscall.EPOLL_CLOEXEC); err != nil {
		return nil, "", fmt.Errorf("epoll: %w", err)
	}
	for _, fd := range []int{l.lfd, l.wakeR} {
		if err = syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)}); err != nil {
			return nil, "", fmt.Errorf("epoll_ctl: %w", err)
		}
	}
	go l.run()
	return l, addr, nil
}

// wake makes the loop look at the server's state (a release, Close).
func (l *loop) wake() {
	if l.woken.CompareAndSwap(false, true) {
		syscall.Write(l.wakeW, []byte{1}) // a full pipe already wakes the loop
	}
}

// run handles events until the server closes, then closes every
// descriptor.
func (l *loop) run() {
	defer close(l.done)
	defer l.closeFDs()
	s := l.s
	for {
		n, errno := l.wait(l.timeout())
		if errno != 0 && errno != syscall.EINTR {
			panic(fmt.Sprintf("fakeapi: epoll_pwait: %v", errno)) // EBADF, EFAULT, EINVAL: a bug here
		}
		s.mu.Lock()
		for _, ev := range l.events[:max(n, 0)] {
			switch fd := int(ev.Fd); {
			case fd == l.lfd:
				l.accept()
			case fd == l.wakeR:
				for {
					if n, _ := syscall.Read(l.wakeR, l.scratch); n <= 0 {
						break
					}
				}
				l.woken.Store(false) // before the state is read below
			case fd < len(l.byFD) && l.byFD[fd] != nil:
				l.byFD[fd].onEvent(ev.Events)
			}
		}
		if s.closing {
			l.closeAll()
			s.mu.Unlock()
			return
		}
		l.tick(time.Now())
		s.mu.Unlock()
	}
}

// wait is epoll_pwait. As a raw system call the goroutine keeps its P
// while it blocks, so the runtime does not hand the P off and sysmon does
// not poll every 20 µs; a preemption signal ends the wait with EINTR.
// With one P that would starve every other goroutine: then it is an
// ordinary system call.
func (l *loop) wait(msec int) (int, syscall.Errno) {
	p := uintptr(unsafe.Pointer(&l.events[0]))
	var r uintptr
	var e syscall.Errno
	if l.raw {
		r, _, e = syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(l.epfd), p, uintptr(len(l.events)), uintptr(msec), 0, 0)
	} else {
		r, _, e = syscall.Syscall6(syscall.SYS_EPOLL_PWAIT, uintptr(l.epfd), p, uintptr(len(l.events)), uintptr(msec), 0, 0)
	}
	return int(r), e
}

// timeout is how long the loop may block: until the waiting getUpdates'
// deadline or the first webhook retry (ms, rounded up), -1 for no limit.
// Server.mu need not be held: it reads what only the loop writes.
func (l *loop) timeout() int {
	s := l.s
	var next time.Time
	if p := s.poller; p != nil {
		next = p.pollDeadline
	}
	if h := s.hook; h != nil && h.backoffs > 0 {
		for _, w := range h.workers {
			if w.state == hcBackoff && (next.IsZero() || w.retryAt.Before(next)) {
				next = w.retryAt
			}
		}
	}
	if next.IsZero() {
		return -1
	}
	return int(max(0, (time.Until(next)+time.Millisecond-1)/time.Millisecond))
}

// tick answers the waiting getUpdates when updates came, its timeout
// passed or a webhook was set, and drives the webhook. Server.mu held.
func (l *loop) tick(now time.Time) {
	s := l.s
	for len(l.later) > 0 {
		c := l.later[len(l.later)-1]
		l.later = l.later[:len(l.later)-1]
		if !c.closed {
			c.process()
		}
	}
	if p := s.poller; p != nil {
		first, end := s.batchLocked(p.pollLimit)
		if first < end || s.hook != nil || !now.Before(p.pollDeadline) {
			p.answerPoll(first, end)
		}
	}
	if h := s.hook; h != nil {
		h.tick(now)
	}
}

// accept takes every pending connection.
func (l *loop) accept() {
	for {
		fd, _, err := syscall.Accept4(l.lfd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
		if err != nil {
			return // EAGAIN; or out of descriptors: the connection waits in the backlog
		}
		syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1) // as Go's net does
		c := &conn{l: l, s: l.s, fd: fd, in: make([]byte, 0, 4096)}
		if err := l.add(fd, c, evIn); err != nil {
			syscall.Close(fd)
			continue
		}
		l.s.n.conns.Add(1)
	}
}

// add registers fd, owned by h, for events.
func (l *loop) add(fd int, h handler, events uint32) error {
	if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: events, Fd: int32(fd)}); err != nil {
		return err
	}
	for len(l.byFD) <= fd {
		l.byFD = append(l.byFD, nil)
	}
	l.byFD[fd] = h
	return nil
}

// watch changes the events fd is registered for.
func (l *loop) watch(fd int, events uint32) {
	syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_MOD, fd, &syscall.EpollEvent{Events: events, Fd: int32(fd)})
}

// drop closes fd and forgets its owner (closing removes it from epoll).
func (l *loop) drop(fd int) {
	syscall.Close(fd)
	if fd < len(l.byFD) {
		l.byFD[fd] = nil
	}
}

// closeAll closes every connection and stops the webhook. Server.mu held.
func (l *loop) closeAll() {
	s := l.s
	if s.hook != nil {
		s.hook.stop()
		s.hook = nil
	}
	for _, h := range l.byFD {
		if c, ok := h.(*conn); ok {
			c.close()
		}
	}
	s.n.pollWaiting.Store(false)
	s.notifyLocked()
}

// closeFDs closes the loop's own descriptors.
func (l *loop) closeFDs() {
	for _, fd := range []int{l.lfd, l.wakeR, l.wakeW, l.epfd} {
		if fd >= 0 {
			syscall.Close(fd)
		}
	}
}

// writev writes bufs to fd and returns how many bytes went out.
func (l *loop) writev(fd int, bufs [][]byte) (int, error) {
	if len(bufs) == 1 {
		return syscall.Write(fd, bufs[0])
	}
	l.iov = l.iov[:0]
	for _, b := range bufs {
		if len(b) > 0 {
			v := syscall.Iovec{Base: &b[0]}
			v.SetLen(len(b))
			l.iov = append(l.iov, v)
		}
	}
	if len(l.iov) == 0 {
		return 0, nil
	}
	n, _, e := syscall.Syscall(syscall.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&l.iov[0])), uintptr(len(l.iov)))
	runtime.KeepAlive(bufs)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// consume drops the first n bytes of bufs.
func consume(bufs [][]byte, n int) [][]byte {
	for n > 0 && len(bufs) > 0 {
		if n < len(bufs[0]) {
			bufs[0] = bufs[0][n:]
			return bufs
		}
		n -= len(bufs[0])
		bufs = bufs[1:]
	}
	for len(bufs) > 0 && len(bufs[0]) == 0 {
		bufs = bufs[1:]
	}
	return bufs
}
