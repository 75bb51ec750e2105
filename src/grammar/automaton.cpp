#include "grammar/automaton.h"

#include <algorithm>

namespace hearth::grammar {

namespace {

// A head inside a multi-byte character at a kClass element keeps, in `partial`: bit 31 set, the
// character's length (2-4) in bits 27-28, the continuation bytes still due in bits 24-25, and the
// code point bits decoded so far in bits 0-20.
constexpr uint32_t kPartialFlag = 1u << 31;
uint32_t pack(uint32_t bits, uint32_t remaining, uint32_t length) {
  return kPartialFlag | (length << 27) | (remaining << 24) | bits;
}
uint32_t bits_of(uint32_t p) { return p & 0x1FFFFF; }
uint32_t remaining_of(uint32_t p) { return (p >> 24) & 3; }
uint32_t length_of(uint32_t p) { return (p >> 27) & 7; }

// Smallest code point of each UTF-8 length: a shorter form would be overlong (invalid).
constexpr uint32_t kMinOfLength[5] = {0, 0, 0x80, 0x800, 0x10000};

bool valid_scalar(uint32_t cp, uint32_t length) {
  return cp >= kMinOfLength[length] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
}

}  // namespace

uint32_t StackArena::intern(uint32_t pos, uint32_t parent) {
  const uint64_t key = (uint64_t(pos) << 32) | parent;
  auto [it, inserted] = index_.emplace(key, static_cast<uint32_t>(nodes_.size()));
  if (inserted) nodes_.push_back({pos, parent});
  return it->second;
}

void sort_unique(std::vector<Head>& heads) {
  std::sort(heads.begin(), heads.end());
  heads.erase(std::unique(heads.begin(), heads.end()), heads.end());
}

void Automaton::expand(uint32_t pos, uint32_t parent, StackArena& arena, std::vector<Head>& out) const {
  // An explicit work list: chains of rules that begin with rules may be long (x{0,10000}), and
  // a grammar may reach one element through several nullable paths, so visits are deduplicated.
  work_.clear();
  seen_small_.clear();
  seen_.clear();
  work_.emplace_back(pos, parent);
  while (!work_.empty()) {
    // A rule of a million alternatives would otherwise be expanded whole before anyone counts.
    if (out.size() > kMaxHeads) return;
    ++steps_;
    auto [p, par] = work_.back();
    work_.pop_back();
    // Most expansions visit a handful of elements: a linear scan beats hashing until they don't.
    const uint64_t key = (uint64_t(p) << 32) | par;
    if (seen_small_.size() < 32) {
      if (std::find(seen_small_.begin(), seen_small_.end(), key) != seen_small_.end()) continue;
      seen_small_.push_back(key);
      if (seen_small_.size() == 32) seen_.insert(seen_small_.begin(), seen_small_.end());
    } else if (!seen_.insert(key).second) {
      continue;
    }
    const Element& e = g_.elements[p];
    switch (e.kind) {
      case Element::kByte:
        out.push_back({p, par, 0});
        break;
      case Element::kClass:
        // An empty class (e.g. only surrogates) can never match: no head, no dead end later.
        if (!g_.classes[e.value].ranges.empty()) out.push_back({p, par, 0});
        break;
      case Element::kEnd:
        if (par == kBottom) {
          out.push_back({kAccepted, kBottom, 0});
        } else if (par == kHorizon) {
          out.push_back({kBeyond, kHorizon, 0});
        } else {
          const StackArena::Node& n = arena[par];
          work_.emplace_back(n.pos, n.parent);
        }
        break;
      case Element::kRule: {
        // The continuation after the reference; none to push when the reference ends its
        // alternative (a tail call), which keeps right recursion at constant depth.
        const uint32_t cont = p + 1;
        const uint32_t below = g_.elements[cont].kind == Element::kEnd ? par : arena.intern(cont, par);
        for (uint32_t alt : g_.rule_alts[e.value]) work_.emplace_back(alt, below);
        break;
      }
    }
  }
}

std::vector<Head> Automaton::start(StackArena& arena) const {
  std::vector<Head> heads;
  for (uint32_t alt : g_.rule_alts[g_.root]) {
    std::vector<Head> part;
    expand(alt, kBottom, arena, part);
    heads.insert(heads.end(), part.begin(), part.end());
  }
  sort_unique(heads);
  return heads;
}

void Automaton::step(const Head& h, uint8_t byte, StackArena& arena, std::vector<Head>& out) const {
  if (h.pos == kAccepted || h.pos == kBeyond) return;
  const Element& e = g_.elements[h.pos];
  if (e.kind == Element::kByte) {
    if (e.value == byte) expand(h.pos + 1, h.parent, arena, out);
    return;
  }
  const CodepointClass& cls = g_.classes[e.value];
  uint32_t bits, remaining, length;
  if (h.partial == 0) {
    if (byte < 0x80) {
      if (cls.contains(byte)) expand(h.pos + 1, h.parent, arena, out);
      return;
    }
    if ((byte & 0xE0) == 0xC0) {
      bits = byte & 0x1F, remaining = 1;
    } else if ((byte & 0xF0) == 0xE0) {
      bits = byte & 0x0F, remaining = 2;
    } else if ((byte & 0xF8) == 0xF0) {
      bits = byte & 0x07, remaining = 3;
    } else {
      return;  // a continuation byte or 0xF8+ cannot start a character
    }
    length = remaining + 1;
  } else {
    if ((byte & 0xC0) != 0x80) return;
    bits = (bits_of(h.partial) << 6) | (byte & 0x3F);
    remaining = remaining_of(h.partial) - 1;
    length = length_of(h.partial);
  }
  if (remaining == 0) {
    if (valid_scalar(bits, length) && cls.contains(bits)) expand(h.pos + 1, h.parent, arena, out);
    return;
  }
  // Still inside the character: keep it only if some member of the class could complete it.
  // The code points this character can still become: not overlong, not past U+10FFFF.
  const uint32_t lo = std::max(bits << (6 * remaining), kMinOfLength[length]);
  const uint32_t hi = std::min((bits << (6 * remaining)) | ((1u << (6 * remaining)) - 1), 0x10FFFFu);
  if (lo > hi || !cls.intersects(lo, hi)) return;
  out.push_back({h.pos, h.parent, pack(bits, remaining, length)});
}

bool Automaton::advance(const std::vector<Head>& in, uint8_t byte, StackArena& arena, std::vector<Head>& out) const {
  out.clear();
  for (const Head& h : in) {
    ++steps_;
    step(h, byte, arena, out);
    if (out.size() > kMaxHeads) return false;
  }
  if (out.size() > 1) sort_unique(out);
  return true;
}

}  // namespace hearth::grammar
