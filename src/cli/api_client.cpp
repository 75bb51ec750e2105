#include "cli/api_client.h"

#include <fmt/format.h>
#include <sys/socket.h>

#include <optional>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "api/sse_reader.h"

namespace hearth::cli {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using nlohmann::json;

namespace {

// The socket of the stream in flight (-1: none), for interrupt().
std::atomic<int> g_stream_fd{-1};
std::atomic<bool> g_interrupted{false};

std::string error_text(unsigned status, const std::string& body) {
  auto j = json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_object() && j["error"].contains("message") &&
      j["error"]["message"].is_string())
    return fmt::format("{}: {}", status, j["error"]["message"].get<std::string>());
  return fmt::format("HTTP {}: {}", status, body.substr(0, 300));
}

}  // namespace

Result<ApiClient> ApiClient::create(const std::string& url, std::string api_key) {
  std::string rest = url;
  if (rest.rfind("https://", 0) == 0) return make_error("--url {}: https is not supported (use http://)", url);
  if (rest.rfind("http://", 0) == 0) rest = rest.substr(7);
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    const std::string path = rest.substr(slash);
    if (path != "/" && path != "/v1" && path != "/v1/") return make_error("--url {}: give the server's root (http://HOST:PORT)", url);
    rest.resize(slash);
  }
  ApiClient c;
  c.host_ = rest;
  c.port_ = "80";
  if (auto colon = rest.rfind(':'); colon != std::string::npos && rest.find(']') == std::string::npos) {
    c.host_ = rest.substr(0, colon);
    c.port_ = rest.substr(colon + 1);
  }
  if (c.host_.empty() || c.port_.empty() || c.port_.find_first_not_of("0123456789") != std::string::npos)
    return make_error("--url {}: expected http://HOST:PORT", url);
  c.key_ = std::move(api_key);
  return c;
}

namespace {

template <class Body>
http::request<Body> make_request(http::verb verb, const std::string& host, const std::string& path, const std::string& key) {
  http::request<Body> req{verb, path, 11};
  req.set(http::field::host, host);
  req.set(http::field::user_agent, "hearth-chat");
  req.set(http::field::connection, "close");
  if (!key.empty()) req.set(http::field::authorization, "Bearer " + key);
  return req;
}

Result<tcp::socket> connect(asio::io_context& io, const std::string& host, const std::string& port) {
  beast::error_code ec;
  tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(host, port, ec);
  if (ec) return make_error("cannot resolve {}: {}", host, ec.message());
  tcp::socket sock(io);
  asio::connect(sock, endpoints, ec);
  if (ec) return make_error("cannot connect to http://{}:{}: {}", host, port, ec.message());
  return sock;
}

Result<json> exchange(const std::string& host, const std::string& port, http::request<http::string_body> req) {
  asio::io_context io;
  auto sock = connect(io, host, port);
  if (!sock.ok()) return sock.error();
  req.prepare_payload();
  beast::error_code ec;
  http::write(*sock, req, ec);
  if (ec) return make_error("sending to http://{}:{}: {}", host, port, ec.message());
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64u << 20);
  http::read(*sock, buf, parser, ec);
  if (ec) return make_error("reading from http://{}:{}: {}", host, port, ec.message());
  const auto& res = parser.get();
  if (res.result_int() != 200) return make_error("{}", error_text(res.result_int(), res.body()));
  auto j = json::parse(res.body(), nullptr, false);
  if (j.is_discarded()) return make_error("the server's answer is not JSON");
  return j;
}

}  // namespace

Result<json> ApiClient::get(const std::string& path) const {
  return exchange(host_, port_, make_request<http::string_body>(http::verb::get, host_, path, key_));
}

Result<json> ApiClient::post(const std::string& path, const json& body) const {
  auto req = make_request<http::string_body>(http::verb::post, host_, path, key_);
  req.set(http::field::content_type, "application/json");
  req.body() = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return exchange(host_, port_, std::move(req));
}

void ApiClient::interrupt() {
  g_interrupted = true;
  const int fd = g_stream_fd.load();
  if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
}

Result<StreamedChat> ApiClient::stream_chat(json body,
                                            const std::function<void(std::string_view, std::string_view)>& on_delta) const {
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  asio::io_context io;
  auto sock = connect(io, host_, port_);
  if (!sock.ok()) return sock.error();
  auto req = make_request<http::string_body>(http::verb::post, host_, "/v1/chat/completions", key_);
  req.set(http::field::content_type, "application/json");
  req.body() = body.dump(-1, ' ', false, json::error_handler_t::replace);
  req.prepare_payload();
  StreamedChat out;
  g_interrupted = false;
  g_stream_fd = sock->native_handle();
  struct Clear {
    ~Clear() { g_stream_fd = -1; }
  } clear;
  beast::error_code ec;
  http::write(*sock, req, ec);
  if (ec) return make_error("sending the request: {}", ec.message());

  beast::flat_buffer buf;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  http::read_header(*sock, buf, parser, ec);
  if (g_interrupted) {
    out.interrupted = true;
    return out;
  }
  if (ec) return make_error("reading the answer: {}", ec.message());
  const unsigned status = parser.get().result_int();
  std::string error_body;
  api::SseReader events;
  std::optional<std::string> failure;  // a malformed or error event ends the answer
  const auto on_event = [&](std::string_view data) {
    if (failure || data == "[DONE]") return;
    auto j = json::parse(data, nullptr, false);
    if (!j.is_object()) {
      failure = "the server sent an event that is not a JSON object";
      return;
    }
    if (j.contains("error")) {
      failure = error_text(500, std::string(data));
      return;
    }
    if (j.contains("usage") && j["usage"].is_object()) out.usage = j["usage"];
    if (!j.contains("choices") || !j["choices"].is_array()) return;
    for (const json& choice : j["choices"]) {
      if (!choice.is_object()) continue;
      if (choice.contains("finish_reason") && choice["finish_reason"].is_string())
        out.finish_reason = choice["finish_reason"].get<std::string>();
      if (!choice.contains("delta") || !choice["delta"].is_object()) continue;
      const json& d = choice["delta"];
      const auto text = [&d](const char* key) {
        return d.contains(key) && d[key].is_string() ? d[key].get<std::string>() : std::string();
      };
      const std::string content = text("content"), reasoning = text("reasoning_content");
      out.content += content;
      out.reasoning += reasoning;
      if (!content.empty() || !reasoning.empty()) on_delta(content, reasoning);
    }
  };
  char chunk[8192];
  while (!parser.is_done() && !failure) {
    parser.get().body().data = chunk;
    parser.get().body().size = sizeof(chunk);
    http::read_some(*sock, buf, parser, ec);
    if (ec == http::error::need_buffer) ec = {};
    const size_t got = sizeof(chunk) - parser.get().body().size;
    if (status != 200) {
      error_body.append(chunk, got);
      if (error_body.size() > (1u << 20)) break;
    } else if (Status st = events.feed(std::string_view(chunk, got), on_event); !st.ok()) {
      failure = st.message();
    }
    if (ec) break;
  }
  if (g_interrupted) {
    out.interrupted = true;
    return out;
  }
  if (status != 200) return make_error("{}", error_text(status, error_body));
  if (failure) return make_error("{}", *failure);
  if (ec && ec != http::error::end_of_stream && ec != asio::error::eof)
    return make_error("reading the answer: {}", ec.message());
  return out;
}

}  // namespace hearth::cli
