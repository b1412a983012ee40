package fetch

import "time"

// futureSkew is how far past the time a feed is read its updated dates may
// lie and still be kept. It forgives a source whose clock runs a little
// ahead of ours (the same allowance as Kerberos' default clock skew), and
// bounds how far ahead a kept date can hold the dates we publish.
const futureSkew = 5 * time.Minute

// dropFutureUpdates treats the updated dates of f later than now plus
// futureSkew as dates the feed does not give: an item's Updated becomes
// zero (publishing then falls back on its published date, as for an item
// with none), and the feed's Updated becomes the newest of its items'
// dates that is not in the future. A date that has not happened is no
// record of a change: kept, it would pin the feeds we publish, and their
// readers' caches, to a day that never comes.
//
// The rule depends only on the body and the time it was read, so storage
// keeps zero for as long as the date lies ahead; and since a date alone
// never changes a stored item, fetching the same feed again changes
// nothing. Published dates are left as they are: Item.Date clamps them to
// when the item was first seen, and an item identified by a hash of its
// content keeps its identity.
func (f *Feed) dropFutureUpdates(now time.Time) {
	limit := now.Add(futureSkew)
	for i := range f.Items {
		if f.Items[i].Updated.After(limit) {
			f.Items[i].Updated = time.Time{}
		}
	}
	if !f.Updated.After(limit) {
		return
	}
	f.Updated = time.Time{}
	for _, it := range f.Items {
		for _, t := range []time.Time{it.Published, it.Updated} {
			if t.After(f.Updated) && !t.After(limit) {
				f.Updated = t
			}
		}
	}
}
