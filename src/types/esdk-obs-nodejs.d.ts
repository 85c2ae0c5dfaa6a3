// The subset of esdk-obs-nodejs (which ships no types) that cts-audit uses.
declare module "esdk-obs-nodejs" {
  import type { Readable } from "node:stream";

  interface CommonMsg {
    Status: number;
    Code: string;
    Message: string;
    RequestId?: string;
  }
  interface Result<T> {
    CommonMsg: CommonMsg;
    InterfaceResult: T | null;
  }
  interface ListedObject {
    Key: string;
    LastModified: string;
    ETag: string;
    Size: string;
  }
  interface ObsClientOptions {
    access_key_id?: string;
    secret_access_key?: string;
    security_token?: string;
    server: string;
    max_retry_count?: number;
    timeout?: number;
    path_style?: boolean;
    signature?: "obs" | "v2" | "v4";
    is_signature_negotiation?: boolean;
  }
  class ObsClient {
    constructor(options: ObsClientOptions);
    util?: { server?: string };
    listObjects(params: {
      Bucket: string;
      Prefix?: string;
      Marker?: string;
      MaxKeys?: number;
      Delimiter?: string;
    }): Promise<
      Result<{
        IsTruncated: string;
        NextMarker: string;
        Contents: ListedObject[];
        CommonPrefixes: Array<{ Prefix: string }>;
      }>
    >;
    getObject(params: {
      Bucket: string;
      Key: string;
      SaveAsStream: true;
    }): Promise<Result<{ Content: Readable; Metadata?: Record<string, string> }>>;
    getObjectMetadata(params: {
      Bucket: string;
      Key: string;
    }): Promise<Result<{ Metadata?: Record<string, string> }>>;
    putObject(params: {
      Bucket: string;
      Key: string;
      Body: Buffer | string | Readable;
      Metadata?: Record<string, string>;
    }): Promise<Result<{ ETag: string }>>;
    deleteObject(params: { Bucket: string; Key: string }): Promise<Result<object>>;
    close(): void;
  }
  export default ObsClient;
}
