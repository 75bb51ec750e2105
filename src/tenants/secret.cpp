#include "tenants/secret.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <stdexcept>

namespace hearth::tenants {
namespace {

constexpr std::string_view kPrefix = "hk-";
constexpr size_t kIdHex = 16;
constexpr size_t kSecretHex = 64;

bool is_lower_hex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

void random_bytes(uint8_t* out, size_t n) {
  // Without entropy there is no safe key to hand out: a programming or system fault, not input.
  if (RAND_bytes(out, static_cast<int>(n)) != 1) throw std::runtime_error("RAND_bytes failed: no entropy for a key");
}

}  // namespace

std::string to_hex(const uint8_t* data, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 15];
  }
  return out;
}

NewSecret make_secret() {
  NewSecret s;
  uint8_t id[kIdHex / 2];
  uint8_t body[kSecretHex / 2];
  random_bytes(id, sizeof id);
  random_bytes(body, sizeof body);
  random_bytes(s.salt.data(), s.salt.size());
  s.id = to_hex(id, sizeof id);
  s.secret = std::string(kPrefix) + s.id + "." + to_hex(body, sizeof body);
  s.hash = hash_secret(s.salt, s.secret);
  return s;
}

std::optional<std::string> secret_key_id(std::string_view secret) {
  if (secret.size() != kPrefix.size() + kIdHex + 1 + kSecretHex || !secret.starts_with(kPrefix)) return std::nullopt;
  const std::string_view id = secret.substr(kPrefix.size(), kIdHex);
  if (secret[kPrefix.size() + kIdHex] != '.' || !is_lower_hex(id) || !is_lower_hex(secret.substr(kPrefix.size() + kIdHex + 1)))
    return std::nullopt;
  return std::string(id);
}

Digest hash_secret(const Salt& salt, std::string_view secret) {
  Digest out{};
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  unsigned len = 0;
  const bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1 &&
                  EVP_DigestUpdate(ctx, salt.data(), salt.size()) == 1 &&
                  EVP_DigestUpdate(ctx, secret.data(), secret.size()) == 1 && EVP_DigestFinal_ex(ctx, out.data(), &len) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok || len != out.size()) throw std::runtime_error("SHA-256 failed");
  return out;
}

bool digests_equal(const Digest& a, const Digest& b) { return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0; }

}  // namespace hearth::tenants
