package soak

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
// from procfs (normally "/proc"). A descendant that exits while it is read
// is skipped; an error is returned only when pid itself cannot be read.
func ReadProc(procfs string, pid int) (ProcStats, error) {
	pids := []int{pid}
	children, err := childrenOf(procfs)
	if err == nil {
		for i := 0; i < len(pids); i++ {
			pids = append(pids, children[pids[i]]...)
		}
	}
	var st ProcStats
	for i, p := range pids {
		one, err := readOne(procfs, p)
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

// childrenOf maps each pid to its children, from every /proc/<pid>/stat.
func childrenOf(procfs string) (map[int][]int, error) {
	ents, err := os.ReadDir(procfs)
	if err != nil {
		return nil, err
	}
	m := make(map[int][]int)
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(procfs, e.Name(), "stat"))
		if err != nil {
			continue
		}
		if ppid, ok := parsePPID(b); ok {
			m[ppid] = append(m[ppid], pid)
		}
	}
	return m, nil
}

// parsePPID reads the fourth field of /proc/<pid>/stat; the second
// (comm) is in parentheses and may contain spaces and parentheses.
func parsePPID(stat []byte) (int, bool) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}

func readOne(procfs string, pid int) (ProcStats, error) {
	dir := filepath.Join(procfs, strconv.Itoa(pid))
	f, err := os.Open(filepath.Join(dir, "status"))
	if err != nil {
		return ProcStats{}, fmt.Errorf("soak: process %d: %w", pid, err)
	}
	defer f.Close()
	st, err := parseStatus(f)
	if err != nil {
		return ProcStats{}, fmt.Errorf("soak: process %d: %w", pid, err)
	}
	if fds, err := os.ReadDir(filepath.Join(dir, "fd")); err == nil {
		st.FDs = len(fds)
	}
	return st, nil
}

// parseStatus reads VmRSS and Threads from /proc/<pid>/status.
func parseStatus(r *os.File) (ProcStats, error) {
	var st ProcStats
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(val)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			continue
		}
		switch key {
		case "VmRSS":
			st.RSS = n * 1024 // kB
		case "Threads":
			st.Threads = int(n)
		}
	}
	if err := sc.Err(); err != nil {
		return st, err
	}
	if st.Threads == 0 {
		return st, fmt.Errorf("no Threads line in status (a zombie?)")
	}
	return st, nil
}
