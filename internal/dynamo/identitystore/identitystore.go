// Package identitystore reads who owns an identity key: the identity items
// the journey function links in the customers table, for the functions
// that need a customer's id without resolving one (the rules, the rollup).
package identitystore

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/identity"
)

// Key is the key of an identity item in the customers table.
func Key(k identity.Key) map[string]ddb.AttributeValue {
	return dynamo.ItemKey("identity#"+string(k), "identity")
}

// Owners reads identity items; it writes nothing: linking is the journey
// function's job.
type Owners struct {
	client    *dynamodb.Client
	customers string
}

// NewOwners returns the reader over the customers table.
func NewOwners(client *dynamodb.Client, customersTable string) *Owners {
	return &Owners{client: client, customers: customersTable}
}

// CustomerOf reads the identity items the journey function links and
// returns the owner of the strongest known key, or the id identity.CustomerIDFor
// gives a new customer. It writes nothing: linking is the journey's job.
func (t *Owners) CustomerOf(ctx context.Context, keys []identity.Key) (string, error) {
	req := make([]map[string]ddb.AttributeValue, len(keys))
	for i, k := range keys {
		req[i] = Key(k)
	}
	// Eventually consistent, at half the price: the rules and the rollup
	// take an interaction at the same time as the journey function that
	// links its keys, so a link written an instant before may be missed
	// whatever the read; a strongly consistent one would not close that.
	res, err := t.client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
		RequestItems: map[string]ddb.KeysAndAttributes{t.customers: {Keys: req, ConsistentRead: aws.Bool(false)}},
	})
	if err != nil {
		return "", fmt.Errorf("read %d identity keys: %w", len(keys), err)
	}
	owners := map[string]string{}
	for _, it := range res.Responses[t.customers] {
		owners[strings.TrimPrefix(dynamo.GetS(it, "pk"), "identity#")] = dynamo.GetS(it, "customer_id")
	}
	for _, k := range keys {
		if o := owners[string(k)]; o != "" {
			return o, nil
		}
	}
	// Unprocessed keys (throttling) leave the customer to its strongest
	// key's derived id: right for a new customer, and a known one's
	// contacts are keyed the same way whenever that key is known.
	return identity.CustomerIDFor(keys[0]), nil
}
