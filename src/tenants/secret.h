// API key secrets: how they are made, recognised and compared. A secret reads
// "hk-<16 hex: key id>.<64 hex: 32 random bytes>"; the id finds the key's row without a search,
// and only SHA-256(salt || secret) is stored, so the database alone gives no working key.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hearth::tenants {

using Digest = std::array<uint8_t, 32>;
using Salt = std::array<uint8_t, 16>;

struct NewSecret {
  std::string id;      // 16 hex characters
  std::string secret;  // shown once, never stored
  Salt salt{};
  Digest hash{};
};

// A fresh key id, secret and salt from the system's random source (OpenSSL's RAND_bytes).
NewSecret make_secret();

// The key id inside a secret of the right shape; nullopt for anything else (other keys, garbage).
std::optional<std::string> secret_key_id(std::string_view secret);

Digest hash_secret(const Salt& salt, std::string_view secret);

// Equal in constant time (CRYPTO_memcmp): how long it takes does not say how much matched.
bool digests_equal(const Digest& a, const Digest& b);

std::string to_hex(const uint8_t* data, size_t n);

}  // namespace hearth::tenants
