//===- CudaDriverTest.cpp - the run-time-loaded CUDA driver ---------------===//
//
// Without a GPU (this development machine, CI), the driver is an error value that says why;
// with one (a lent H200), device memory round-trips.

#include "linrec/Runtime/CudaDriver.h"
#include "linrec-c/GpuLaunch.h"

#include "gtest/gtest.h"

#include <numeric>
#include <vector>

using namespace linrec;

TEST(CudaDriver, MissingDriverOrGpuIsAClearError) {
  llvm::Expected<CudaDriver &> driver = CudaDriver::get();
  if (driver) {
    ASSERT_FALSE(driver->devices().empty());
    EXPECT_FALSE(driver->devices().front().name.empty());
    EXPECT_GT(driver->driverVersion(), 0);
    return;
  }
  std::string message = llvm::toString(driver.takeError());
  EXPECT_TRUE(message.find("CUDA") != std::string::npos) << message;
  // Asking again gives the same answer, not a crash or a second initialization.
  llvm::Expected<CudaDriver &> again = CudaDriver::get();
  ASSERT_FALSE(again);
  EXPECT_EQ(llvm::toString(again.takeError()), message);
}

TEST(CudaDriver, DeviceMemoryRoundTrips) {
  llvm::Expected<CudaDriver &> driver = CudaDriver::get();
  if (!driver)
    GTEST_SKIP() << "no GPU here: " << llvm::toString(driver.takeError());
  std::vector<float> host(1000), back(1000, -1.0f);
  std::iota(host.begin(), host.end(), 0.5f);
  auto buffer = driver->allocate(host.size() * sizeof(float));
  ASSERT_TRUE(static_cast<bool>(buffer)) << llvm::toString(buffer.takeError());
  ASSERT_FALSE(static_cast<bool>(driver->copyToDevice(*buffer, host.data(), 4000)));
  ASSERT_FALSE(static_cast<bool>(driver->copyToHost(back.data(), *buffer, 4000)));
  EXPECT_EQ(host, back);
  llvm::Error tooBig = driver->copyToHost(back.data(), *buffer, 8000);
  EXPECT_TRUE(static_cast<bool>(tooBig));
  llvm::consumeError(std::move(tooBig));
}

// A borrowed stream (linrecGpuUseStream: PyTorch's current stream) is what the launch code's
// stream calls get, untouched by them: no stream is created, waited for or destroyed, so no
// driver is needed for them; without one, creating a stream is the driver's clear error.
TEST(GpuLaunch, BorrowedStreamIsNeitherCreatedNorSynchronizedNorDestroyed) {
  char message[1024];
  linrecGpuTakeError(message, sizeof(message)); // start clean
  int fakeStream = 0;
  linrecGpuUseStream(&fakeStream);
  EXPECT_EQ(mgpuStreamCreate(), &fakeStream);
  mgpuStreamSynchronize(&fakeStream);
  mgpuStreamDestroy(&fakeStream);
  EXPECT_EQ(linrecGpuTakeError(message, sizeof(message)), 0) << message;
  linrecGpuUseStream(nullptr);
  llvm::Expected<CudaDriver &> driver = CudaDriver::get();
  if (driver) { // a GPU: the stream is real
    mgpuStreamDestroy(mgpuStreamCreate());
    return;
  }
  llvm::consumeError(driver.takeError());
  EXPECT_EQ(mgpuStreamCreate(), nullptr);
  ASSERT_EQ(linrecGpuTakeError(message, sizeof(message)), 1);
  EXPECT_NE(std::string(message).find("CUDA"), std::string::npos) << message;
}
