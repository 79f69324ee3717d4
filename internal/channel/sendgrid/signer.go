package sendgrid

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"math/big"
	"strconv"
	"time"

	"github.com/ocxhq/ocx/internal/channel"
)

// DemoSecrets implements channel.Signer: the signing secret is the base64
// private scalar, the verifying one the base64 PKIX public key, as SendGrid
// shows it.
func (Scheme) DemoSecrets(seed string) (string, string) {
	curve := elliptic.P256()
	sum := sha256.Sum256(channel.DemoKey(seed, 32))
	d := new(big.Int).SetBytes(sum[:])
	d.Mod(d, new(big.Int).Sub(curve.Params().N, big.NewInt(1)))
	d.Add(d, big.NewInt(1))
	scalar := make([]byte, 32)
	d.FillBytes(scalar)
	priv, err := ecdsa.ParseRawPrivateKey(curve, scalar)
	if err != nil {
		panic(fmt.Sprintf("derive demo key: %v", err))
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		panic(fmt.Sprintf("encode demo key: %v", err))
	}
	return base64.StdEncoding.EncodeToString(scalar), base64.StdEncoding.EncodeToString(der)
}

// Sign implements channel.Signer.
func (Scheme) Sign(req *channel.Request, secret string, now time.Time) error {
	scalar, err := base64.StdEncoding.DecodeString(secret)
	if err != nil {
		return fmt.Errorf("sign sendgrid request: signing secret is not base64")
	}
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), scalar)
	if err != nil {
		return fmt.Errorf("sign sendgrid request: %w", err)
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	digest := sha256.Sum256(append([]byte(ts), req.Body...))
	sig, err := ecdsa.SignASN1(rand.Reader, priv, digest[:])
	if err != nil {
		return fmt.Errorf("sign sendgrid request: %w", err)
	}
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, base64.StdEncoding.EncodeToString(sig))
	return nil
}
