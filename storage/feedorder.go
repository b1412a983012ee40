package storage

// feedOrder returns the sort value of the next new item of a Save, whose
// date gives sort: the items a feed lists first are its newest, so each
// new item sorts one nanosecond before the one the feed listed before it.
// Items with no date of their own are dated when first seen, and so all the
// new items of one fetch share a date: without this their order, and
// which of them retention keeps, was that of their keys' hashes, and
// retention could prune the newest of them.
func (w *indexWriter) feedOrder(sort uint64) uint64 {
	place := w.placed
	w.placed++
	return sort - min(sort, place)
}
