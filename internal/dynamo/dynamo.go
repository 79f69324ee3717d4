// Package dynamo holds the DynamoDB adapters: the stores the domain packages
// declare as interfaces, implemented over the tables in internal/topology.
package dynamo
