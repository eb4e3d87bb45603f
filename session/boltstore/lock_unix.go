//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package boltstore

import (
	"errors"
	"os"
	"syscall"
	"time"

	berrors "go.etcd.io/bbolt/errors"
)

// lockRetry is how often lockFile tries again, as bbolt does.
const lockRetry = 50 * time.Millisecond

// lockFile takes the exclusive flock that bbolt takes, before the file is
// read, so that checkBolt never reads a file another process is writing.
// bbolt's own flock on the same open file then succeeds at once. It gives
// up with bbolt's ErrTimeout after timeout.
func lockFile(f *os.File, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return err
		}
		if time.Now().Add(lockRetry).After(deadline) {
			return berrors.ErrTimeout
		}
		time.Sleep(lockRetry)
	}
}

// unlockFile releases the lock. Closing the file alone would not while
// bbolt's memory mapping of it lives: the mapping keeps the open file,
// and with it the lock.
func unlockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
