package leak

import "sort"

// byCmp orders s by cmp for package sort. The reports sort through it and
// not through slices.SortFunc and slices.SortStableFunc: sort's algorithms
// are linked once whatever the element type, where each slices
// instantiation links a sort of its own (10 to 17 KB of code per element
// type), in every bot, for reports that run at stop or on demand.
type byCmp[T any] struct {
	s   []T
	cmp func(a, b T) int
}

func (x *byCmp[T]) Len() int           { return len(x.s) }
func (x *byCmp[T]) Less(i, j int) bool { return x.cmp(x.s[i], x.s[j]) < 0 }
func (x *byCmp[T]) Swap(i, j int)      { x.s[i], x.s[j] = x.s[j], x.s[i] }

// sortFunc sorts s by cmp, like slices.SortFunc.
func sortFunc[T any](s []T, cmp func(a, b T) int) { sort.Sort(&byCmp[T]{s, cmp}) }

// sortStableFunc sorts s by cmp keeping the order of equal elements, like
// slices.SortStableFunc.
func sortStableFunc[T any](s []T, cmp func(a, b T) int) { sort.Stable(&byCmp[T]{s, cmp}) }
