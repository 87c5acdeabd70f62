import type { DescEnum, DescFile, DescMessage, FileRegistry, Registry } from "@bufbuild/protobuf";
import { toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";

/**
 * Where a reflection index takes its files from: generated `GenFile`s, a
 * `FileRegistry` (e.g. `createFileRegistry(fileDescriptorSet)` of a `buf build`
 * image), or any `Registry` (the files of its types are used).
 */
export type ReflectionSource = FileRegistry | Registry | Iterable<DescFile>;

/** gRPC status codes that reflection answers carry in `error_response`. */
export const ReflectionErrorCode = {
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
} as const;

/**
 * The `message_response` oneof of a `ServerReflectionResponse`, as a plain init
 * shape: it fits both `grpc.reflection.v1` and `grpc.reflection.v1alpha`, whose
 * messages are identical apart from their package.
 */
export type ReflectionAnswer =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | {
      case: "allExtensionNumbersResponse";
      value: { baseTypeName: string; extensionNumber: number[] };
    }
  | { case: "listServicesResponse"; value: { service: { name: string }[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

/**
 * The `message_request` oneof of a `ServerReflectionRequest` (either version).
 */
export type ReflectionQuestion =
  | { case: "fileByFilename"; value: string }
  | { case: "fileContainingSymbol"; value: string }
  | {
      case: "fileContainingExtension";
      value: { containingType: string; extensionNumber: number };
    }
  | { case: "allExtensionNumbersOfType"; value: string }
  | { case: "listServices"; value: string }
  | { case: undefined; value?: undefined };

/** Answers server-reflection questions about a fixed set of proto files. */
export interface ReflectionIndex {
  /** Fully-qualified names of the listed services, sorted. */
  readonly services: readonly string[];
  /** Names (`a/b/c.proto`) of every file that can be served, sorted. */
  readonly fileNames: readonly string[];
  /** Answer one request; never throws: failures become `errorResponse`. */
  answer(question: ReflectionQuestion): ReflectionAnswer;
}

/** Options of {@link createReflectionIndex}. */
export interface ReflectionIndexOptions {
  /**
   * Files to serve. Their dependencies are added transitively. When two
   * sources hold a file of the same name the first one wins, so put a source
   * with comments (a `buf build` image) before generated files.
   */
  sources: readonly ReflectionSource[];
  /** Fully-qualified names of the services that `list_services` reports. */
  services: Iterable<string>;
}

/**
 * Build the lookup tables once, so every reflection request is a map lookup.
 * Files are serialized lazily and cached: most clients ask for a handful.
 */
export function createReflectionIndex(options: ReflectionIndexOptions): ReflectionIndex {
  const files = new Map<string, DescFile>();
  for (const source of options.sources) {
    for (const file of filesOf(source)) addWithDependencies(files, file);
  }

  const symbols = new Map<string, DescFile>();
  // "<extendee full name>:<number>" -> file declaring the extension.
  const extensionsByKey = new Map<string, DescFile>();
  const extensionNumbers = new Map<string, number[]>();
  for (const file of files.values()) {
    indexFile(file, symbols, (extendee, number) => {
      extensionsByKey.set(`${extendee}:${number}`, file);
      const numbers = extensionNumbers.get(extendee) ?? [];
      numbers.push(number);
      extensionNumbers.set(extendee, numbers);
    });
  }

  const services = [...new Set(options.services)].sort();
  for (const name of services) {
    if (!symbols.has(name)) {
      throw new Error(`reflection: service ${name} is not declared in any served file`);
    }
  }

  const serialized = new Map<string, Uint8Array>();
  const bytesOf = (file: DescFile): Uint8Array => {
    let bytes = serialized.get(file.proto.name);
    if (bytes === undefined) {
      // file.proto is the descriptor as given: generated code keeps no comments,
      // a buf image keeps source_code_info, and both are served unchanged.
      bytes = toBinary(FileDescriptorProtoSchema, file.proto);
      serialized.set(file.proto.name, bytes);
    }
    return bytes;
  };

  /** The file first (clients expect it there), then its dependencies, each once. */
  const withDependencies = (root: DescFile): ReflectionAnswer => {
    const ordered: DescFile[] = [];
    const seen = new Set<string>();
    const visit = (file: DescFile): void => {
      if (seen.has(file.proto.name)) return;
      seen.add(file.proto.name);
      ordered.push(file);
      for (const name of file.proto.dependency) {
        // Resolved by name through the index, so a file that won over a
        // same-named one is also what its dependents get.
        const dependency = files.get(name);
        if (dependency !== undefined) visit(dependency);
      }
    };
    visit(root);
    return {
      case: "fileDescriptorResponse",
      value: { fileDescriptorProto: ordered.map(bytesOf) },
    };
  };

  const notFound = (message: string): ReflectionAnswer => ({
    case: "errorResponse",
    value: { errorCode: ReflectionErrorCode.NOT_FOUND, errorMessage: message },
  });

  return {
    services,
    fileNames: [...files.keys()].sort(),
    answer(question) {
      switch (question.case) {
        case "listServices":
          return {
            case: "listServicesResponse",
            value: { service: services.map((name) => ({ name })) },
          };
        case "fileByFilename": {
          const file = files.get(question.value);
          return file ? withDependencies(file) : notFound(`file not found: ${question.value}`);
        }
        case "fileContainingSymbol": {
          // Clients sometimes send a leading dot (".pkg.Type"), as in type_name.
          const name = question.value.replace(/^\./, "");
          const file = symbols.get(name);
          return file ? withDependencies(file) : notFound(`symbol not found: ${question.value}`);
        }
        case "fileContainingExtension": {
          const { containingType, extensionNumber } = question.value;
          const file = extensionsByKey.get(`${containingType}:${extensionNumber}`);
          return file
            ? withDependencies(file)
            : notFound(`extension not found: ${containingType} field ${extensionNumber}`);
        }
        case "allExtensionNumbersOfType": {
          const typeName = question.value;
          if (!isMessage(symbols.get(typeName), typeName)) {
            return notFound(`message type not found: ${typeName}`);
          }
          return {
            case: "allExtensionNumbersResponse",
            value: {
              baseTypeName: typeName,
              extensionNumber: [...(extensionNumbers.get(typeName) ?? [])].sort((a, b) => a - b),
            },
          };
        }
        default:
          return {
            case: "errorResponse",
            value: {
              errorCode: ReflectionErrorCode.INVALID_ARGUMENT,
              errorMessage: "no message_request set",
            },
          };
      }
    },
  };
}

function filesOf(source: ReflectionSource): Iterable<DescFile> {
  // A FileRegistry also iterates its types; its `files` includes files that
  // declare no type at all (which the type iteration would miss).
  if ("files" in source && "getFile" in source) return source.files;
  const files = new Set<DescFile>();
  for (const item of source as Iterable<DescFile | { file: DescFile }>) {
    files.add("kind" in item && item.kind === "file" ? item : (item as { file: DescFile }).file);
  }
  return files;
}

function addWithDependencies(files: Map<string, DescFile>, file: DescFile): void {
  if (files.has(file.proto.name)) return;
  files.set(file.proto.name, file);
  for (const dependency of file.dependencies) addWithDependencies(files, dependency);
}

/**
 * Every symbol reflection clients may ask for: services and their methods,
 * messages with their fields, oneofs, nested types and extensions, enums and
 * their values (which protobuf scopes beside the enum, not inside it), and
 * top-level extensions.
 */
function indexFile(
  file: DescFile,
  symbols: Map<string, DescFile>,
  onExtension: (extendee: string, number: number) => void,
): void {
  const add = (name: string): void => {
    // First definition wins; duplicates would be a broken descriptor set anyway.
    if (!symbols.has(name)) symbols.set(name, file);
  };
  const scopeOf = (parent: DescMessage | undefined): string =>
    parent ? parent.typeName : file.proto.package;
  const addEnum = (desc: DescEnum): void => {
    add(desc.typeName);
    const scope = scopeOf(desc.parent);
    for (const value of desc.values) add(scope ? `${scope}.${value.name}` : value.name);
  };
  const addMessage = (desc: DescMessage): void => {
    add(desc.typeName);
    for (const field of desc.fields) add(`${desc.typeName}.${field.name}`);
    for (const oneof of desc.oneofs) add(`${desc.typeName}.${oneof.name}`);
    for (const nested of desc.nestedMessages) addMessage(nested);
    for (const nested of desc.nestedEnums) addEnum(nested);
    for (const extension of desc.nestedExtensions) {
      add(extension.typeName);
      onExtension(extension.extendee.typeName, extension.number);
    }
  };

  for (const service of file.services) {
    add(service.typeName);
    for (const method of service.methods) add(`${service.typeName}.${method.name}`);
  }
  for (const message of file.messages) addMessage(message);
  for (const desc of file.enums) addEnum(desc);
  for (const extension of file.extensions) {
    add(extension.typeName);
    onExtension(extension.extendee.typeName, extension.number);
  }
}

function isMessage(file: DescFile | undefined, typeName: string): boolean {
  if (file === undefined) return false;
  const find = (messages: readonly DescMessage[]): boolean =>
    messages.some((m) => m.typeName === typeName || find(m.nestedMessages));
  return find(file.messages);
}
