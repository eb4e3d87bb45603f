//go:build linux && !386

package tg

import (
	"syscall"
	"time"
	"unsafe"
)

// smoothedRTT returns the kernel's smoothed round-trip time of raw's TCP
// connection (TCP_INFO), and false when it cannot be read (nil raw: no
// socket).
func smoothedRTT(raw syscall.RawConn) (time.Duration, bool) {
	if raw == nil {
		return 0, false
	}
	var (
		info  syscall.TCPInfo
		errno syscall.Errno
	)
	size := uint32(unsafe.Sizeof(info))
	cerr := raw.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_INFO,
			uintptr(unsafe.Pointer(&info)), uintptr(unsafe.Pointer(&size)), 0)
	})
	if cerr != nil || errno != 0 || info.Rtt == 0 {
		return 0, false
	}
	return time.Duration(info.Rtt) * time.Microsecond, true
}
