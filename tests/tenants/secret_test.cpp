#include "tenants/secret.h"

#include <gtest/gtest.h>

#include <set>

namespace hearth::tenants {
namespace {

TEST(TenantsSecret, FreshSecretsHaveTheirShapeAndDiffer) {
  std::set<std::string> seen;
  for (int i = 0; i < 20; ++i) {
    const NewSecret s = make_secret();
    ASSERT_EQ(s.secret.size(), 3u + 16 + 1 + 64);
    EXPECT_EQ(secret_key_id(s.secret), s.id);
    EXPECT_EQ(s.hash, hash_secret(s.salt, s.secret));
    EXPECT_TRUE(seen.insert(s.secret).second);
  }
}

TEST(TenantsSecret, OnlyWellFormedSecretsNameAKey) {
  const NewSecret s = make_secret();
  std::string upper = s.secret;
  upper[5] = 'A';
  for (const std::string& bad : {std::string(""), std::string("hk-"), s.secret.substr(1), s.secret + "0",
                                std::string("xx") + s.secret.substr(2), s.secret.substr(0, 19) + "-" + s.secret.substr(20),
                                upper, std::string(84, 'a'), std::string("hk-") + std::string(81, '\0')})
    EXPECT_FALSE(secret_key_id(bad)) << bad;
}

TEST(TenantsSecret, TheHashDependsOnSaltAndEveryByte) {
  const NewSecret s = make_secret();
  Salt other = s.salt;
  other[0] ^= 1;
  EXPECT_FALSE(digests_equal(hash_secret(other, s.secret), s.hash));
  std::string changed = s.secret;
  changed.back() = changed.back() == '0' ? '1' : '0';
  EXPECT_FALSE(digests_equal(hash_secret(s.salt, changed), s.hash));
  EXPECT_TRUE(digests_equal(hash_secret(s.salt, s.secret), s.hash));
  // SHA-256 of 16 zero bytes (the salt) then "abc", from coreutils:
  // { printf '\0%.0s' {1..16}; printf abc; } | sha256sum
  const Digest d = hash_secret(Salt{}, "abc");
  EXPECT_EQ(to_hex(d.data(), d.size()), "277e7ff6d232b9763f4a66e8d05d210da32dac9c6dbce1026ad4cc98acb5fefe");
}

}  // namespace
}  // namespace hearth::tenants
