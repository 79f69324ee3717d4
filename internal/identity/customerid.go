package identity

import (
	"crypto/sha256"
	"encoding/hex"
)

// CustomerIDFor derives a new customer's id from its strongest key, so two
// racing first events for one person create the same customer, and a
// reader of the identity items (the rollup, the rules) names a customer not
// yet linked the way the journey function will.
func CustomerIDFor(k Key) string {
	sum := sha256.Sum256([]byte(k))
	return "cus_" + hex.EncodeToString(sum[:10])
}
