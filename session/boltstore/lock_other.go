//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package boltstore

import (
	"os"
	"time"
)

// lockFile does nothing here: the file is checked before bbolt locks it,
// so a file another process is writing may be reported corrupt rather
// than locked.
func lockFile(*os.File, time.Duration) error { return nil }

// unlockFile does nothing here: bbolt's lock goes with the file.
func unlockFile(*os.File) error { return nil }
