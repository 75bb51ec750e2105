// Errors in OpenAI's shape: {"error": {"message", "type", "param", "code"}} with an HTTP status,
// so the official clients raise their matching error classes (BadRequestError, ...).
#pragma once

#include <optional>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

namespace hearth::api {

struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::optional<std::string> param;
  std::optional<std::string> code;
  int retry_after = 0;  // seconds, for 429/503

  nlohmann::json body() const {
    nlohmann::json e = {{"message", message}, {"type", type}, {"param", nullptr}, {"code", nullptr}};
    if (param) e["param"] = *param;
    if (code) e["code"] = *code;
    return {{"error", e}};
  }
};

// A value, or the error to answer with.
template <typename T>
using ApiResult = std::variant<T, ApiError>;

inline ApiError api_error(int status, std::string message, std::string type = "invalid_request_error",
                          std::optional<std::string> code = std::nullopt) {
  return {status, std::move(message), std::move(type), std::nullopt, std::move(code), 0};
}

inline ApiError bad_request(std::string message, std::optional<std::string> param = std::nullopt) {
  return {400, std::move(message), "invalid_request_error", std::move(param), std::nullopt, 0};
}

}  // namespace hearth::api
