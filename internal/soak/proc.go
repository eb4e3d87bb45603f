package soak

import (
	"fmt"

	"github.com/prometheus/procfs"
)

// ProcStats are the resources of a process and its descendants, read from
// /proc (Linux only).
type ProcStats struct {
	Processes int    // the process and its living descendants
	RSS       uint64 // resident set size, bytes, summed
	Threads   int    // summed
	FDs       int    // open file descriptors, summed
}

// ReadProc returns the resources of pid and every descendant of it (so a
// bot started through "sh -c" or "go run" is measured as a whole), read
// with github.com/prometheus/procfs from the procfs mounted at mount
// (normally "/proc"). A descendant that exits while it is read is
// skipped; an error is returned only when pid itself cannot be read.
func ReadProc(mount string, pid int) (ProcStats, error) {
	fs, err := procfs.NewFS(mount)
	if err != nil {
		return ProcStats{}, fmt.Errorf("soak: %w", err)
	}
	pids := []int{pid}
	if children, err := childrenOf(fs); err == nil {
		for i := 0; i < len(pids); i++ {
			pids = append(pids, children[pids[i]]...)
		}
	}
	var st ProcStats
	for i, p := range pids {
		one, err := readOne(fs, p)
		if err != nil {
			if i == 0 {
				return ProcStats{}, err
			}
			continue
		}
		st.Processes++
		st.RSS += one.RSS
		st.Threads += one.Threads
		st.FDs += one.FDs
	}
	return st, nil
}

// childrenOf maps each pid to its children, from every process's stat.
func childrenOf(fs procfs.FS) (map[int][]int, error) {
	procs, err := fs.AllProcs()
	if err != nil {
		return nil, err
	}
	m := make(map[int][]int)
	for _, p := range procs {
		if s, err := p.Stat(); err == nil {
			m[s.PPID] = append(m[s.PPID], p.PID)
		}
	}
	return m, nil
}

// readOne reads one process: threads from stat, RSS from status (VmRSS),
// open files from fd.
func readOne(fs procfs.FS, pid int) (ProcStats, error) {
	p, err := fs.Proc(pid)
	if err != nil {
		return ProcStats{}, fmt.Errorf("soak: process %d: %w", pid, err)
	}
	stat, err := p.Stat()
	if err != nil {
		return ProcStats{}, fmt.Errorf("soak: process %d: %w", pid, err)
	}
	status, err := p.NewStatus()
	if err != nil {
		return ProcStats{}, fmt.Errorf("soak: process %d: %w", pid, err)
	}
	if stat.NumThreads == 0 {
		return ProcStats{}, fmt.Errorf("soak: process %d: no threads (a zombie?)", pid)
	}
	st := ProcStats{RSS: status.VmRSS, Threads: stat.NumThreads}
	if n, err := p.FileDescriptorsLen(); err == nil {
		st.FDs = n
	}
	return st, nil
}
