//===- RuntimeError.h - the runtime's error values --------------*- C++ -*-===//

#ifndef LINREC_RUNTIME_RUNTIMEERROR_H
#define LINREC_RUNTIME_RUNTIMEERROR_H

#include "llvm/Support/Error.h"

namespace linrec {

/// An error value carrying `message` (the runtime's errors are messages, never aborts).
inline llvm::Error runtimeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message.str());
}

} // namespace linrec

#endif // LINREC_RUNTIME_RUNTIMEERROR_H
