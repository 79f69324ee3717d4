// Package secrets reads secrets from AWS Secrets Manager and caches them, so
// a warm function does not pay a network call per request and a rotated
// secret is picked up within the cache TTL.
package secrets

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/ocxhq/ocx/internal/topology"
)

// ErrNotFound is returned when a secret does not exist.
var ErrNotFound = errors.New("secret not found")

// DefaultTTL bounds how stale a cached secret may be.
const DefaultTTL = 5 * time.Minute

// Store reads secrets named <prefix><name>.
type Store struct {
	client *secretsmanager.Client
	prefix string
	ttl    time.Duration
	now    func() time.Time

	mu    sync.Mutex
	cache map[string]entry
}

type entry struct {
	value   string
	fetched time.Time
}

// New returns a Store over the given client and name prefix (e.g. "ocx/dev/").
func New(client *secretsmanager.Client, prefix string) *Store {
	return &Store{client: client, prefix: prefix, ttl: DefaultTTL, now: time.Now, cache: map[string]entry{}}
}

// Get returns the secret string, from cache when fresh.
func (s *Store) Get(ctx context.Context, name string) (string, error) {
	s.mu.Lock()
	e, ok := s.cache[name]
	s.mu.Unlock()
	if ok && s.now().Sub(e.fetched) < s.ttl {
		return e.value, nil
	}
	out, err := s.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.prefix + name)})
	if err != nil {
		var nf *smtypes.ResourceNotFoundException
		if errors.As(err, &nf) {
			return "", fmt.Errorf("secret %s%s: %w", s.prefix, name, ErrNotFound)
		}
		return "", fmt.Errorf("read secret %s%s: %w", s.prefix, name, err)
	}
	v := aws.ToString(out.SecretString)
	s.mu.Lock()
	s.cache[name] = entry{value: v, fetched: s.now()}
	s.mu.Unlock()
	return v, nil
}

// List returns a secret holding several comma- or newline-separated values,
// such as the active signing secrets of a channel during rotation.
func (s *Store) List(ctx context.Context, name string) ([]string, error) {
	v, err := s.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	return Split(v), nil
}

// Split splits a comma- or whitespace-separated list, dropping empties.
func Split(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == '\n' || r == ' ' || r == '\t' })
}

// Put creates or updates a secret. The local stack uses it to provision the
// same secrets an operator would set in AWS.
func (s *Store) Put(ctx context.Context, name, value string) error {
	id := s.prefix + name
	_, err := s.client.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(id), SecretString: aws.String(value)})
	var nf *smtypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		_, err = s.client.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(id), SecretString: aws.String(value)})
	}
	if err != nil {
		return fmt.Errorf("put secret %s: %w", id, err)
	}
	s.mu.Lock()
	delete(s.cache, name)
	s.mu.Unlock()
	return nil
}

// FromEnv is the store under the prefix OCX_SECRETS_PREFIX names.
func FromEnv(cfg aws.Config, getenv func(string) string) *Store {
	return New(secretsmanager.NewFromConfig(cfg), getenv(topology.EnvSecretsPrefix))
}
