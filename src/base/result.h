// Errors as values at boundaries: anything read from outside (files, configs, requests) returns a
// Result<T> or a Status carrying a one-line message; programmer invariants use HEARTH_CHECK.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

#include <fmt/format.h>

namespace hearth {

struct Error {
  std::string message;
};

// Builds an Error from a fmt format string: return make_error("{}: bad magic at offset {}", ...).
template <typename... Args>
Error make_error(fmt::format_string<Args...> format, Args&&... args) {
  return Error{fmt::format(format, std::forward<Args>(args)...)};
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Error error) : state_(std::move(error)) {}      // NOLINT: implicit by design

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { return std::get<1>(state_); }

 private:
  std::variant<T, Error> state_;
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error.message)), failed_(true) {}  // NOLINT: implicit
  static Status Ok() { return Status(); }

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  Error error() const { return Error{error_}; }
  const std::string& message() const { return error_; }

 private:
  std::string error_;
  bool failed_ = false;
};

[[noreturn]] inline void check_failed(const char* file, int line, const char* expr,
                                      const std::string& detail) {
  std::fprintf(stderr, "%s:%d: CHECK failed: %s %s\n", file, line, expr, detail.c_str());
  std::abort();
}

}  // namespace hearth

// Programmer invariant: aborts with file:line. Never use on data from outside.
#define HEARTH_CHECK(cond, ...)                                                         \
  do {                                                                                  \
    if (!(cond)) ::hearth::check_failed(__FILE__, __LINE__, #cond, std::string{__VA_ARGS__}); \
  } while (0)

#define HEARTH_CONCAT_INNER(a, b) a##b
#define HEARTH_CONCAT(a, b) HEARTH_CONCAT_INNER(a, b)

// HEARTH_TRY(auto x, expr): evaluates a Result, returns its error from the enclosing function on
// failure, otherwise binds the value.
#define HEARTH_TRY(decl, expr) HEARTH_TRY_IMPL(HEARTH_CONCAT(hearth_try_, __LINE__), decl, expr)
#define HEARTH_TRY_IMPL(tmp, decl, expr) \
  auto tmp = (expr);                     \
  if (!tmp.ok()) return tmp.error();     \
  decl = std::move(tmp).value()

// HEARTH_RETURN_IF_ERROR(status_expr)
#define HEARTH_RETURN_IF_ERROR(expr)                                  \
  do {                                                                \
    auto hearth_status_ = (expr);                                     \
    if (!hearth_status_.ok()) return hearth_status_.error();          \
  } while (0)
