package heap_test

import (
	"io"
	"runtime/pprof"
)

func pprofLookup(name string, w io.Writer) error { return pprof.Lookup(name).WriteTo(w, 0) }
