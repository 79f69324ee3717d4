package identity

// Claim is something recorded under a customer because of the identity
// keys it carried: an interaction, or a journey instance (the union of its
// events' keys).
type Claim struct {
	ID   string
	Keys []Key
	// Linked are the keys this claim's event linked for the first time;
	// they were not known before it, so they say nothing about whom the
	// event belonged to.
	Linked []Key
}

// Split decides, when a merge is undone, which claims recorded under the
// survivor since the merge belong to the absorbed customer, and which keys
// linked since then go back with them. absorbed are the keys the absorbed
// customer had when it was merged.
//
// A claim goes with the absorbed customer when every key it carried that
// was already known is one of the absorbed customer's keys. The keys such a
// claim linked become the absorbed customer's too, so the rule is applied
// until nothing changes: an SMS from a phone first seen on an absorbed
// customer's order follows the order. A claim that carried keys of both
// sides (the merge's own cause, typically) stays with the survivor: it is
// the evidence that joined them, and the survivor keeps it.
func Split(absorbed []Key, claims []Claim) (moved map[string]bool, keys []Key) {
	side := make(map[Key]bool, len(absorbed))
	for _, k := range absorbed {
		side[k] = true
	}
	moved = map[string]bool{}
	for changed := true; changed; {
		changed = false
		for _, c := range claims {
			if moved[c.ID] || !belongs(c, side) {
				continue
			}
			moved[c.ID] = true
			changed = true
			for _, k := range c.Linked {
				if !side[k] {
					side[k] = true
					keys = append(keys, k)
				}
			}
		}
	}
	return moved, keys
}

func belongs(c Claim, side map[Key]bool) bool {
	linked := make(map[Key]bool, len(c.Linked))
	for _, k := range c.Linked {
		linked[k] = true
	}
	known := 0
	for _, k := range c.Keys {
		if linked[k] {
			continue
		}
		if !side[k] {
			return false
		}
		known++
	}
	return known > 0
}
