#pragma once

// The one way to build a failed `json_error` outside the decoder: a code, an RFC 6901 pointer and
// a detail (docs/errors.md). Query parsers, the ledger codec and the request checks that run
// after `decode` share it.

#include "core/json_reader.hpp"

#include <string>

namespace steward::core {

inline json_error json_failure(api_error code, std::string pointer, std::string detail) {
  json_error error;
  error.code = code;
  error.pointer = std::move(pointer);
  error.detail = std::move(detail);
  error.failed = true;
  return error;
}

} // namespace steward::core
