-- AlterTable
ALTER TABLE "AuthorizationCode" ADD COLUMN     "audience" TEXT;

-- AlterTable
ALTER TABLE "RefreshToken" ADD COLUMN     "audience" TEXT;

